"""Zone discovery against a real BIND serving a parent zone and a child zone delegated from it:
each zone found once, not once per host, and the child still found under the parent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.tsig
import pytest

from tests.testbed.bind import make_tsig_key, start_zones_primary
from tests.testbed.lab import child_zone_text
from tests.testbed.ports import free_port
from tests.testbed.tiers import starts_servers
from tlsagen.core.records import Owner
from tlsagen.provider import ProviderSettings
from tlsagen_rfc2136 import create, transfer
from tlsagen_rfc2136.provider import AXFR_MIN_OWNERS, Rfc2136Provider

PARENT, CHILD = "parent.test.", "child.parent.test."
DELEGATION = "child NS ns1.child\nns1.child A 127.0.0.1\n"


@pytest.fixture(scope="module")
@starts_servers
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A BIND serving both zones; the provider settings for it."""
    directory = tmp_path_factory.mktemp("zones")
    key = make_tsig_key("zones-key.", directory)
    port = free_port()
    zones = {PARENT: child_zone_text(PARENT) + DELEGATION, CHILD: child_zone_text(CHILD)}
    with start_zones_primary(directory / "named", port, zones, key):
        yield {"server": f"127.0.0.1:{port}", "key-file": str(key.key_file)}


def counted(
    settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Rfc2136Provider, list[str]]:
    """A provider, and the hosts whose zone it asks the server for (one SOA query each)."""
    provider = create(ProviderSettings("dns", settings, "test", Path("/")))
    asked: list[str] = []
    real = provider._zone_of

    def zone_of(host: str) -> str:
        asked.append(host)
        return real(host)

    monkeypatch.setattr(provider, "_zone_of", zone_of)
    return provider, asked


def owners(hosts: list[str]) -> list[Owner]:
    return [Owner.for_service(host, port) for host in hosts for port in (25, 443)]


def test_each_zone_is_found_once_and_a_delegated_child_still_found(
    primary: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    in_parent = [f"a{n}.{PARENT}" for n in range(AXFR_MIN_OWNERS)]  # found before the child
    in_child = [CHILD, f"mx.{CHILD}", f"a.b.{CHILD}"]
    provider, asked = counted(primary, monkeypatch)
    found = provider.zones(owners(in_parent + in_child))
    assert found == {
        **{owner: PARENT for owner in owners(in_parent)},
        **{owner: CHILD for owner in owners(in_child)},
    }
    assert sum(host in in_parent for host in asked) == 1  # not one per host (100)
    assert sorted(set(asked) - set(in_parent)) == sorted(in_child)  # too few to transfer
    # the transfer made to find the parent's hosts answers the read that follows
    assert provider.read(PARENT, owners(in_parent)) == {}


def test_hosts_too_few_for_a_transfer_are_asked_one_by_one(
    primary: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = [f"mx.{CHILD}", f"mx.{PARENT}", f"mail.{PARENT}"]
    provider, asked = counted(primary, monkeypatch)
    assert set(provider.zones(owners(hosts)).values()) == {PARENT, CHILD}
    assert sorted(asked) == sorted(hosts)


def test_a_transfer_altered_on_the_path_fails_its_tsig_check(
    primary: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transfer steps over most records unparsed, but each message's signature covers them
    all: a TTL changed in the first answer record (which parses as well as before) fails it."""
    reading = create(ProviderSettings("dns", primary, "test", Path("/")))
    endpoint = reading._primary(PARENT)
    found = transfer.transfer(PARENT, endpoint, reading._key, 5.0, 10**6)
    assert found is not None and found.cuts == {CHILD}
    real = transfer._Reader.read

    def altered(self: Any, wire: bytes) -> None:
        ttl = 12 + len(dns.name.from_text(PARENT).to_wire()) + 4 + 2 + 4  # after a name pointer
        changed = bytearray(wire)
        changed[ttl + 3] ^= 1
        real(self, bytes(changed))

    monkeypatch.setattr(transfer._Reader, "read", altered)
    with pytest.raises(dns.tsig.BadSignature):
        transfer.transfer(PARENT, endpoint, reading._key, 5.0, 10**6)
