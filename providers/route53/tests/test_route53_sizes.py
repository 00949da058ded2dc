"""Hostile sizes for Route 53: owners of 100 records each are batched within the API's limits."""

from __future__ import annotations

from tlsagen.provider import Change, Owner, rrset
from tlsagen.testing import record
from tlsagen_route53.batches import MAX_CHARS, MAX_RECORDS, Item, split

HUNDRED = [record(str(i), "3 1 2") for i in range(100)]


def test_route53_batches_of_owners_with_100_records() -> None:
    owners = [Owner(f"_25._tcp.mx{i}.example.com.") for i in range(30)]
    items = [Item.of(Change(o, None, rrset(o, 60, HUNDRED)), None) for o in owners]
    batches = split(items)
    assert [item for batch in batches for item in batch] == items
    for batch in batches:
        assert sum(len(item.values) for item in batch) <= MAX_RECORDS
        assert sum(item.chars for item in batch) <= MAX_CHARS
