"""Hostile sizes for RFC 2136: UPDATEs of RRsets of 100 records fit their estimate and the
message limit, split where they must, and an owner too big for any UPDATE is refused by name."""

from __future__ import annotations

import dns.name
import dns.tsig
import pytest

from tlsagen.provider import Change, Owner, ProviderError, TLSAData, rrset
from tlsagen.testing import record
from tlsagen_rfc2136.wire import MAX_MESSAGE, build_update, wire_size
from tlsagen_rfc2136.wire import split as split_updates

OWNER = Owner("_25._tcp.mx1.example.com.")
HUNDRED = [record(str(i), "3 1 2") for i in range(100)]
KEY_RING = dns.tsig.Key("tlsagen-key.", "c2VjcmV0c2VjcmV0c2VjcmV0", dns.tsig.HMAC_SHA256)


def test_an_update_replacing_100_records_by_100_fits_its_estimate() -> None:
    change = Change(OWNER, rrset(OWNER, 60, HUNDRED[:50] + HUNDRED[:50]), rrset(OWNER, 60, HUNDRED))
    wire = build_update("example.com.", [change], KEY_RING).to_wire()
    assert len(wire) <= wire_size(change) + 1024 <= MAX_MESSAGE


def test_100_owners_of_100_records_split_into_updates_that_each_fit() -> None:
    owners = [Owner(f"_25._tcp.mx{i}.example.com.") for i in range(100)]
    changes = [Change(o, rrset(o, 60, HUNDRED[:1]), rrset(o, 60, HUNDRED)) for o in owners]
    groups = split_updates(changes)
    assert len(groups) > 1 and [c for g in groups for c in g] == changes
    for group in groups:
        assert len(build_update("example.com.", group, KEY_RING).to_wire()) <= MAX_MESSAGE


def test_an_owner_whose_change_fits_no_update_is_refused_by_name() -> None:
    full = [TLSAData(3, 0, 0, bytes([i]) * 1000) for i in range(100)]  # 100 whole certificates
    change = Change(OWNER, None, rrset(OWNER, 60, full))
    with pytest.raises(ProviderError, match=f"change of {OWNER} alone needs"):
        split_updates([change])


def test_an_update_at_an_owner_of_255_octets_fits_its_estimate() -> None:
    owner = Owner.for_service(("a" * 63 + ".") * 3 + "a" * 52 + ".", 25)
    assert len(dns.name.from_text(owner.name).to_wire()) == 255
    change = Change(owner, None, rrset(owner, 60, HUNDRED))
    wire = build_update("example.com.", [change], KEY_RING).to_wire()
    assert len(wire) <= wire_size(change) + 1024
