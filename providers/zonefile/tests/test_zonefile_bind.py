"""A written zone file loads in a real BIND, which serves the TLSA records tlsagen wrote."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.rrset
import pytest

from tests.testbed.bind import start_named
from tests.testbed.ports import free_port
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider

ZONE = "example.test."


def _query(port: int, name: str, rdtype: str) -> dns.rrset.RRset | None:
    query = dns.message.make_query(name, rdtype)
    answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=1)
    return answer.answer[0] if answer.answer else None


@pytest.mark.servers  # starts a named of its own
def test_bind_serves_the_edited_zone(
    tmp_path: Path,
    zone_file: Path,
    make_provider: Callable[..., ZonefileProvider],
    named_checkzone: str,
) -> None:
    mail, web = Owner("_25._tcp.mail.example.test."), Owner("_443._tcp.www.example.test.")
    provider = make_provider(
        zone_file, serial="date", check_command=[named_checkzone, "{zone}", "{file}"]
    )
    first = rrset(mail, 300, [record("current")])
    provider.apply(ChangeSet(ZONE, (Change(mail, None, first),)))
    wanted = {
        mail: rrset(mail, 300, [record("current"), record("next")]),
        web: rrset(web, 3600, [record("web", "3 1 2"), record("ca", "2 0 1")]),
    }
    provider.apply(
        ChangeSet(ZONE, (Change(mail, first, wanted[mail]), Change(web, None, wanted[web])))
    )

    port = free_port()
    zone = f'zone "{ZONE}" {{ type primary; file "{zone_file}"; }};\n'
    with start_named("named", tmp_path / "named", port, [], zone) as named:
        soa = named.wait_until(lambda: _query(port, ZONE, "SOA"), "serve the zone")
        assert soa[0].serial == 2025112801  # dated today, then bumped once more
        for owner, want in wanted.items():
            served = _query(port, owner.name, "TLSA")
            assert served is not None and served.rdtype == dns.rdatatype.TLSA
            assert served.ttl == want.ttl
            assert {rdata.to_text() for rdata in served} == set(want.texts())
