"""Building compare-and-swap UPDATEs, their size limit, and reading answers: pure, no servers."""

from __future__ import annotations

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from tlsagen.core.records import Change, Malformed, Owner, RRset, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ProviderError
from tlsagen.testing import record
from tlsagen_rfc2136.keys import TsigKey
from tlsagen_rfc2136.wire import MAX_MESSAGE, build_update, rrset_at, split, wire_size

ZONE = "example.test."
KEY = TsigKey.make("a-rather-long-key-name.example.test.", "hmac-sha512", "c2VjcmV0", "t")


def owner(number: int) -> Owner:
    return Owner.for_service(f"host{number}.{ZONE}", 25)


def big(seed: int) -> TLSAData:
    """A `3 0 0` record as large as a certificate."""
    return TLSAData(3, 0, 0, bytes([seed % 256]) * 1200)


def rrs(section: list[dns.rrset.RRset]) -> list[tuple[str, str, int, str]]:
    """(owner, class, TTL, data) of every RR, in message order."""
    return [
        (
            found.name.to_text(),
            (found.deleting or found.rdclass).name,
            found.ttl,
            rdata.to_text() if rdata else "",
        )
        for found in section
        for rdata in ([*found] or [None])
    ]


def test_prerequisites_are_the_exact_rrset_read_with_ttl_zero() -> None:
    replaced, created, deleted = owner(1), owner(2), owner(3)
    update = build_update(
        ZONE,
        [
            Change(
                replaced,
                rrset(replaced, 600, [record("a"), record("b")]),
                rrset(replaced, 300, [record("c")]),
            ),
            Change(created, None, rrset(created, 300, [record("d")])),
            Change(deleted, rrset(deleted, 300, [record("e")]), None),
        ],
        KEY.dns_key(),
    )
    a, b = sorted([record("a"), record("b")])
    assert rrs(update.prerequisite) == [
        (replaced.name, "IN", 0, a.to_text()),  # value-dependent: exactly {a, b}, TTL 0
        (replaced.name, "IN", 0, b.to_text()),
        (created.name, "NONE", 0, ""),  # RRset does not exist
        (deleted.name, "IN", 0, record("e").to_text()),
    ]
    assert rrs(update.update) == [
        (replaced.name, "ANY", 0, ""),  # delete the RRset ...
        (replaced.name, "IN", 300, record("c").to_text()),  # ... and add the new one
        (created.name, "ANY", 0, ""),
        (created.name, "IN", 300, record("d").to_text()),
        (deleted.name, "ANY", 0, ""),
    ]
    assert update.keyname == dns.name.from_text(KEY.name)


@pytest.mark.parametrize(
    "change",
    [
        Change(owner(1), None, rrset(owner(1), 300, [big(1), record("a")])),
        Change(owner(1), rrset(owner(1), 300, [record("a"), record("b", "3 1 2")]), None),
        Change(owner(1), rrset(owner(1), 300, [record("a")]), rrset(owner(1), 60, [big(2)])),
    ],
)
def test_wire_size_is_never_below_the_real_size(change: Change) -> None:
    alone = len(build_update(ZONE, [change], KEY.dns_key()).to_wire())
    empty = len(build_update(ZONE, [], KEY.dns_key()).to_wire())
    assert alone - empty <= wire_size(change)


def test_split_keeps_owners_whole_and_every_update_under_64_kib() -> None:
    owners = [owner(n) for n in range(80)]
    changes = [
        Change(o, None, rrset(o, 300, [big(n), record(o.name)])) for n, o in enumerate(owners)
    ]
    with pytest.raises(dns.exception.TooBig):
        build_update(ZONE, changes, KEY.dns_key()).to_wire()
    groups = split(changes)
    assert len(groups) == 2
    assert [c for group in groups for c in group] == changes
    for group in groups:
        assert len(build_update(ZONE, group, KEY.dns_key()).to_wire()) <= MAX_MESSAGE


def test_a_small_change_set_is_one_update() -> None:
    changes = [Change(owner(n), None, rrset(owner(n), 300, [record("a")])) for n in range(3)]
    assert split(changes) == [tuple(changes)]
    assert split([]) == []


def test_an_owner_too_large_for_one_update_is_refused() -> None:
    huge = rrset(owner(1), 300, [big(n) for n in range(60)])
    with pytest.raises(ProviderError, match=r"alone needs .* more than one DNS UPDATE can carry"):
        split([Change(owner(1), None, huge)])


def test_rrset_at_reads_tlsa_and_refuses_a_cname() -> None:
    name = owner(1)
    tlsa = dns.rrset.from_text(name.name, 120, "IN", "TLSA", record("a").to_text(), "3 1 0 00ff")
    other = dns.rrset.from_text(owner(2).name, 120, "IN", "TLSA", record("b").to_text())
    assert rrset_at(name, [other, tlsa]) == rrset(
        name, 120, [record("a"), TLSAData(3, 1, 0, b"\x00\xff")]
    )
    assert rrset_at(name, [other]) is None
    cname = dns.rrset.from_text(name.name, 120, "IN", "CNAME", "elsewhere.example.test.")
    with pytest.raises(ProviderError, match="is an alias"):
        rrset_at(name, [cname])


def test_rrset_in_pieces_is_read_whole() -> None:
    """A zone transfer may carry one RRset in several pieces (across messages): all count."""
    owner = Owner.for_service("mx.example.test", 25)
    first, second = record("a"), record("b", "3 1 2")
    pieces = [
        dns.rrset.from_text(owner.name, 300, "IN", "TLSA", first.to_text()),
        dns.rrset.from_text("other.example.test.", 300, "IN", "A", "192.0.2.1"),
        dns.rrset.from_text(owner.name, 300, "IN", "TLSA", second.to_text()),
    ]
    assert rrset_at(owner, pieces) == rrset(owner, 300, [first, second])


def test_prerequisites_repeat_unusable_and_malformed_records_octet_for_octet() -> None:
    held = RRset(
        owner(1),
        300,
        frozenset({TLSAData(3, 1, 1, b"\xab\xcd"), TLSAData(4, 2, 3, b"")}),
        frozenset({Malformed("\\# 2 0301", "2 octet(s)"), Malformed("\\# 0", "0 octet(s)")}),
    )
    update = build_update(ZONE, [Change(owner(1), held, None)], KEY.dns_key())
    assert {found.ttl for found in update.prerequisite} == {0}
    rdatas = [rdata for found in update.prerequisite for rdata in found]
    assert sorted(rdata.to_wire() for rdata in rdatas) == sorted(
        [b"\x03\x01\x01\xab\xcd", b"\x04\x02\x03", b"\x03\x01", b""]
    )
    wire = update.to_wire()
    assert len(wire) <= wire_size(Change(owner(1), held, None)) + 1024


def test_a_malformed_record_without_its_octets_names_the_owner() -> None:
    held = RRset(owner(1), 300, frozenset(), frozenset({Malformed("garbage", "not TLSA")}))
    with pytest.raises(ProviderError, match=r"_25\._tcp\.host1\.example\.test\.: cannot send"):
        build_update(ZONE, [Change(owner(1), held, None)], KEY.dns_key())


def test_rrset_at_keeps_records_dnspython_refuses() -> None:
    """A reply read by tlsagen.net.dns.from_wire holds them as generic rdata of type TLSA."""
    name = owner(1)
    generic = dns.rrset.from_rdata(
        name.name,
        300,
        dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, b"\x03\x01\x01\xab"),
        dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, b"\x03"),
    )
    found = rrset_at(name, [generic])
    assert found is not None
    assert found.records == {TLSAData(3, 1, 1, b"\xab")}
    assert [bad.text for bad in found.malformed] == ["\\# 1 03"]
