"""What `check` saves across the servers of a run must not change a server's verdict: a TLSA
RRset and signatures validated once are not validated again, and a server that serves other
data or other signatures is validated on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.testbed.rogue import rogue_dns
from tlsagen.core.records import Owner
from tlsagen.net import lookup
from tlsagen.net.lookup import ZoneAt, view_server
from tlsagen.provider import Endpoint

ZONE = "example.test."
OWNER = Owner.for_service("mx1.example.test.", 25)
NOW = datetime.now(UTC)
GOOD = "3 1 1 " + "ab" * 32
OTHER = "3 1 1 " + "cd" * 32

KEY = ec.generate_private_key(ec.SECP256R1())
DNSKEY = dns.rrset.from_rdata(ZONE, 60, dns.dnssec.make_dnskey(KEY.public_key(), "ECDSAP256SHA256"))


def signed(record: str) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    """The TLSA RRset at OWNER holding `record`, and its RRSIG by KEY."""
    tlsa = dns.rrset.from_text(OWNER.name, 60, "IN", "TLSA", record)
    rrsig = dns.dnssec.sign(
        tlsa,
        KEY,
        dns.name.from_text(ZONE),
        DNSKEY[0],
        inception=NOW - timedelta(hours=1),
        expiration=NOW + timedelta(days=7),
    )
    return tlsa, dns.rrset.from_rdata(OWNER.name, 60, rrsig)


def answering(*sections: dns.rrset.RRset) -> Callable[[bytes], list[bytes]]:
    """A server that answers every query with `sections` in the answer."""

    def answer(wire: bytes) -> list[bytes]:
        reply = dns.message.make_response(dns.message.from_wire(wire))
        reply.flags |= dns.flags.AA
        reply.answer = list(sections)
        return [reply.to_wire()]

    return answer


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The owners of the RRsets dns.dnssec.validate is asked to check."""
    seen: list[str] = []
    real = dns.dnssec.validate

    def counted(rrset: Any, *args: Any, **kwargs: Any) -> None:
        seen.append(rrset.name.to_text())
        real(rrset, *args, **kwargs)

    monkeypatch.setattr(dns.dnssec, "validate", counted)
    yield seen


def views(*answers: Callable[[bytes], list[bytes]]) -> list[lookup.ServerView]:
    """The views of servers answering `answers`, in order, sharing one run's validations."""
    validated: dict[Any, str | None] = {}
    with ExitStack() as stack:
        servers = [stack.enter_context(rogue_dns(answer)) for answer in answers]
        return [
            view_server(ZoneAt(Endpoint(s.host, s.port), ZONE, DNSKEY), OWNER, NOW, 5.0, validated)
            for s in servers
        ]


def test_the_same_signed_rrset_from_two_servers_is_validated_once(
    validations: list[str],
) -> None:
    tlsa, sigs = signed(GOOD)
    first, second = views(answering(tlsa, sigs), answering(tlsa, sigs))
    assert first.invalid is None and second.invalid is None
    assert first.signed and second.signed and first.rrset == second.rrset
    assert validations == [OWNER.name]


def test_a_server_with_a_bad_signature_is_caught_after_a_good_one(
    validations: list[str],
) -> None:
    tlsa, sigs = signed(GOOD)
    forged = sigs[0].replace(signature=bytes(len(sigs[0].signature)))
    first, second = views(
        answering(tlsa, sigs), answering(tlsa, dns.rrset.from_rdata(OWNER.name, 60, forged))
    )
    assert first.invalid is None
    assert second.invalid is not None and "does not validate" in second.invalid
    assert len(validations) == 2


def test_other_data_under_the_same_signature_is_caught(validations: list[str]) -> None:
    tlsa, sigs = signed(GOOD)
    other, _ = signed(OTHER)
    first, second = views(answering(tlsa, sigs), answering(other, sigs))
    assert first.invalid is None
    assert second.invalid is not None and "does not validate" in second.invalid
    good_again, other_again = views(answering(tlsa, sigs), answering(other, sigs))
    assert good_again.invalid is None and other_again.invalid == second.invalid
    assert len(validations) == 4  # two runs, two distinct RRsets in each
