"""tlsagen.provider, the one module provider distributions import: complete, pinned in lockstep,
with one compare-and-swap verdict and one pair of TLSA <-> dnspython conversions."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest

import tlsagen
from tests.testbed.rogue import rogue_dns
from tlsagen import provider
from tlsagen.provider import (
    Change,
    ConflictError,
    Endpoint,
    Malformed,
    Owner,
    ProviderError,
    ReplyError,
    ReplyTimeout,
    RRset,
    TLSAData,
    already_applied,
    exchange,
    stored_record,
    stored_rrset,
    to_rdatas,
    to_rrset,
)
from tlsagen.testing import record

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = sorted((ROOT / "providers").glob("*/pyproject.toml"))
MX1 = Owner("_25._tcp.mx1.example.com.")
MX2 = Owner("_25._tcp.mx2.example.com.")


def test_every_name_it_declares_is_there() -> None:
    missing = [name for name in provider.__all__ if not hasattr(provider, name)]
    assert missing == []
    assert len(provider.__all__) == len(set(provider.__all__))


def project(path: Path) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads(path.read_text())["project"]
    return table


def test_distributions_pin_each_other_in_lockstep() -> None:
    version = tlsagen.__version__
    core = project(ROOT / "pyproject.toml")
    assert core["version"] == version
    assert len(PROVIDERS) >= 3
    extras = core["optional-dependencies"]
    assert isinstance(extras, dict)
    for path in PROVIDERS:
        table = project(path)
        assert table["version"] == version, path
        dependencies = table["dependencies"]
        assert isinstance(dependencies, list)
        assert f"tlsagen=={version}" in dependencies, path
        name = table["name"]
        assert f"{name}=={version}" in extras["all"], name
    for group in ("all", *(path.parent.name for path in PROVIDERS)):
        for requirement in extras[group]:
            assert requirement.endswith(f"=={version}"), requirement


def change(owner: Owner, before: list[TLSAData], after: list[TLSAData]) -> Change:
    return Change(
        owner,
        RRset(owner, 300, frozenset(before)) if before else None,
        RRset(owner, 300, frozenset(after)) if after else None,
    )


OLD, NEW = record("old"), record("new")
CHANGES = [change(MX1, [OLD], [NEW]), change(MX2, [], [NEW])]


def held(**by_name: list[TLSAData]) -> dict[Owner, RRset]:
    owners = {"mx1": MX1, "mx2": MX2}
    return {owners[k]: RRset(owners[k], 300, frozenset(v)) for k, v in by_name.items() if v}


def test_not_applied_when_dns_holds_every_before() -> None:
    assert already_applied(held(mx1=[OLD]), CHANGES) is False


def test_applied_when_dns_holds_every_after() -> None:
    assert already_applied(held(mx1=[NEW], mx2=[NEW]), CHANGES) is True


def test_conflict_names_the_owners_that_moved() -> None:
    with pytest.raises(ConflictError, match=rf"^{MX1} \(and 1 more\) changed in Z since it was"):
        already_applied(held(mx1=[record("other")], mx2=[OLD]), CHANGES, " in Z")
    with pytest.raises(ConflictError, match=rf"^{MX2} changed since it was read"):
        already_applied(held(mx1=[OLD], mx2=[OLD]), CHANGES)


def test_half_applied_is_a_conflict() -> None:
    """mx1 holds its `after`, mx2 still its `before`: neither verdict holds, and mx1 (no longer
    holding its `before`) is the one named."""
    with pytest.raises(ConflictError, match=rf"^{MX1} changed since"):
        already_applied(held(mx1=[NEW]), CHANGES)


# Records as a provider may hold them, dnspython refusing the last two.
STORED = ["3 1 1 " + "ab" * 32, "3 1 1 abcd", "\\# 2 0301"]


def test_the_conversions_round_trip_what_dnspython_refuses() -> None:
    stored = stored_rrset(MX1, 300, map(stored_record, STORED))
    assert len(stored.records) == 2 and len(stored.malformed) == 1
    rdatas = to_rdatas(stored)
    wires = sorted(rdata.to_digestable() for rdata in rdatas)
    expected = [
        bytes.fromhex("0301"),
        bytes.fromhex("030101abcd"),
        bytes.fromhex("030101" + "ab" * 32),
    ]
    assert wires == sorted(expected)
    answer = dns.rrset.RRset(dns.name.from_text(MX1.name), dns.rdataclass.IN, dns.rdatatype.TLSA)
    for rdata in rdatas:
        answer.add(rdata, 300)
    read = to_rrset(MX1, answer)
    assert (read.ttl, read.records) == (300, stored.records)
    assert [item.text for item in read.malformed] == ["\\# 2 0301"]


def test_a_malformed_record_not_in_generic_form_cannot_be_sent() -> None:
    stored = RRset(MX1, 300, frozenset(), frozenset({Malformed("3 1 zz", "not a number")}))
    with pytest.raises(ProviderError, match=r"cannot send the record '3 1 zz' back"):
        to_rdatas(stored)


KEY = dns.tsig.Key("k.", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "hmac-sha256")


def unsigned_refusal(datagram: bytes) -> list[bytes]:
    response = dns.message.make_response(dns.message.from_wire(datagram, keyring=False))
    response.tsig = None  # in place of the server: no signature
    response.set_rcode(dns.rcode.NOTAUTH)
    return [response.to_wire()]


def garbled(datagram: bytes) -> list[bytes]:
    """The query's id, and a header that promises records that are not there."""
    return [datagram[:2] + bytes.fromhex("8400 0001 0005 0000 0000")]


def test_a_signed_query_ends_at_its_first_unverifiable_reply() -> None:
    """The reply that fails its TSIG check is final, its bytes kept for the provider to explain
    (BADKEY, BADSIG, an unsigned NOTAUTH); the query path does not wait out the timeout."""
    query = dns.message.make_query("_25._tcp.mx.example.test.", "TLSA")
    query.use_tsig(KEY)
    with rogue_dns(unsigned_refusal) as server:
        started = time.monotonic()
        with pytest.raises(ReplyError) as failed:
            exchange(query, Endpoint(server.host, server.port), 5.0)
    assert time.monotonic() - started < 2
    assert failed.value.wire is not None
    assert dns.message.from_wire(failed.value.wire, keyring=False).rcode() == dns.rcode.NOTAUTH


def test_an_unsigned_query_skips_an_unreadable_reply_until_the_deadline() -> None:
    """Unsigned, a garbled reply cannot be told from a spoofed one: the genuine one may follow."""
    query = dns.message.make_query("_25._tcp.mx.example.test.", "TLSA")
    with rogue_dns(garbled) as server:
        started = time.monotonic()
        with pytest.raises(ReplyError, match="cannot be read") as failed:
            exchange(query, Endpoint(server.host, server.port), 0.5)
    assert time.monotonic() - started >= 0.5
    assert failed.value.wire is not None and not isinstance(failed.value, ReplyTimeout)


def signed_reply(asked: dns.message.Message, question: str) -> bytes:
    """A reply to `question` under the id of `asked`, signed as the server signs its answer."""
    other = dns.message.make_query(question, "TLSA", id=asked.id)
    response = dns.message.make_response(other)
    response.use_tsig(KEY)
    response.request_mac = asked.mac or b""
    return response.to_wire()


def test_a_signed_query_skips_a_verified_reply_to_another_question() -> None:
    """Only a reply that fails its TSIG check ends a signed query: one to another question may
    be a late answer, and the reply asked for may follow."""
    name = "_25._tcp.mx.example.test."
    query = dns.message.make_query(name, "TLSA")
    query.use_tsig(KEY)

    def late_then_genuine(datagram: bytes) -> list[bytes]:
        asked = dns.message.from_wire(datagram, keyring=False)
        return [signed_reply(asked, "_26._tcp.mx.example.test."), signed_reply(asked, name)]

    with rogue_dns(late_then_genuine) as server:
        response = exchange(query, Endpoint(server.host, server.port), 5.0)
    assert response.had_tsig and response.question[0].name.to_text() == name
