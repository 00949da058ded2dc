"""Reads and change batches on moto_server: how many calls, which names, the request limits."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tlsagen.core.records import Change, ChangeSet, Malformed, Owner, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError
from tlsagen.testing import record
from tlsagen_route53.batches import MAX_CHARS, MAX_RECORDS
from tlsagen_route53.provider import dns_name


def upsert(admin: Any, zone_id: str, name: str, *values: str) -> None:
    records = [{"Value": value} for value in values]
    rrset = {"Name": name, "Type": "TLSA", "TTL": 300, "ResourceRecords": records}
    change = {"Action": "UPSERT", "ResourceRecordSet": rrset}
    admin.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})


def test_names_from_route53() -> None:
    assert dns_name("\\052.Example.COM") == "*.example.com."
    assert dns_name("_25._tcp.mx.example.com.") == "_25._tcp.mx.example.com."


def test_one_owner_is_read_alone_several_by_one_listing(
    route53: Any, admin: Any, create_zone: Any
) -> None:
    zone_id = create_zone("example.com")
    owners = [Owner.for_service(f"mx{n}.example.com", 25) for n in range(3)]
    for owner in owners:
        upsert(admin, zone_id, owner.name, record(owner.name).to_text())
    provider, calls = route53()
    assert list(provider.read("example.com.", owners[:1])) == owners[:1]
    assert calls.params("ListResourceRecordSets")[-1]["MaxItems"] == "1"
    assert list(provider.read("example.com.", owners)) == owners
    assert "MaxItems" not in calls.params("ListResourceRecordSets")[-1]
    assert calls.count()["ListResourceRecordSets"] == 2


def test_names_are_compared_without_case(route53: Any, admin: Any, create_zone: Any) -> None:
    zone_id = create_zone("example.com")
    upper, lower = (Owner.for_service(host, 25) for host in ("upper.example.com", "x.example.com"))
    upsert(admin, zone_id, "_25._tcp.UPPER.example.com.", "3 1 1 " + "AB" * 32)
    provider, _ = route53()
    held = provider.read("example.com.", [upper, lower])
    assert held == {upper: rrset(upper, 300, [TLSAData(3, 1, 1, bytes([0xAB] * 32))])}


STORED = ("garbage", "3 1 1", "3 1 1 ABCD", "300 1 1 ab")  # as someone typed them


def test_unreadable_values_are_read_as_stored_and_replaced_exactly(
    route53: Any, admin: Any, create_zone: Any
) -> None:
    zone_id = create_zone("example.com")
    owner, other = (Owner.for_service(f"{host}.example.com", 25) for host in ("mx", "mx2"))
    upsert(admin, zone_id, owner.name, *STORED)
    upsert(admin, zone_id, other.name, record("other").to_text())
    provider, calls = route53()
    held = provider.read("example.com.", [owner, other])
    assert held[owner].records == {TLSAData(3, 1, 1, b""), TLSAData(3, 1, 1, b"\xab\xcd")}
    assert held[owner].malformed == {
        Malformed("garbage", "it does not start with usage, selector and matching type (0-255)"),
        Malformed("300 1 1 ab", "it does not start with usage, selector and matching type (0-255)"),
    }
    assert held[other] == rrset(other, 300, [record("other")])
    new = rrset(owner, 300, [record("a")])
    provider.apply(ChangeSet("example.com.", (Change(owner, held[owner], new),)))
    (delete, create) = calls.params("ChangeResourceRecordSets")[-1]["ChangeBatch"]["Changes"]
    assert delete["Action"] == "DELETE"
    assert [r["Value"] for r in delete["ResourceRecordSet"]["ResourceRecords"]] == list(STORED)
    assert create["Action"] == "CREATE"
    assert provider.read("example.com.", [owner, other]) == {owner: new, other: held[other]}


def test_unreadable_values_changed_since_the_read_conflict(
    route53: Any, admin: Any, create_zone: Any
) -> None:
    zone_id = create_zone("example.com")
    owner = Owner.for_service("mx.example.com", 25)
    upsert(admin, zone_id, owner.name, "garbage")
    provider, calls = route53()
    before = provider.read("example.com.", [owner])[owner]
    upsert(admin, zone_id, owner.name, "other garbage")
    change = Change(owner, before, rrset(owner, 300, [record("a")]))
    with pytest.raises(ConflictError, match=r"_25\._tcp\.mx\.example\.com\. changed in Route 53"):
        provider.apply(ChangeSet("example.com.", (change,)))
    assert calls.count()["ChangeResourceRecordSets"] == 0


def test_unsigned_zone_warns_once(
    route53: Any, create_zone: Any, tlsagen_log: pytest.LogCaptureFixture
) -> None:
    create_zone("example.com")
    provider, calls = route53()
    owner = Owner.for_service("mx.example.com", 25)
    provider.read("example.com.", [owner])
    provider.read("example.com.", [owner])
    assert tlsagen_log.text.count("TLSA in an unsigned zone does nothing") == 1
    assert calls.count()["GetDNSSEC"] == 1


def test_a_pure_delete_sends_only_a_delete(route53: Any, create_zone: Any) -> None:
    create_zone("example.com")
    provider, calls = route53()
    owner = Owner.for_service("mx.example.com", 25)
    held = rrset(owner, 600, [record("a"), record("b")])
    provider.apply(ChangeSet("example.com.", (Change(owner, None, held),)))
    provider.apply(ChangeSet("example.com.", (Change(owner, held, None),)))
    (delete,) = calls.params("ChangeResourceRecordSets")[-1]["ChangeBatch"]["Changes"]
    assert delete["Action"] == "DELETE"
    assert delete["ResourceRecordSet"]["TTL"] == 600
    assert (
        sorted(r["Value"] for r in delete["ResourceRecordSet"]["ResourceRecords"]) == held.texts()
    )


def test_many_owners_take_the_fewest_batches_and_no_per_owner_calls(
    route53: Any, create_zone: Any
) -> None:
    create_zone("example.com")
    provider, calls = route53()
    owners = [Owner.for_service(f"mx{n}.example.com", 25) for n in range(1000)]
    created = {o: rrset(o, 300, [record(o.name), record(o.name + "next")]) for o in owners}
    changes = tuple(Change(o, None, created[o]) for o in owners)

    provider.apply(ChangeSet("example.com.", changes))

    batches = [p["ChangeBatch"]["Changes"] for p in calls.params("ChangeResourceRecordSets")]
    values = [
        [r["Value"] for change in batch for r in change["ResourceRecordSet"]["ResourceRecords"]]
        for batch in batches
    ]
    chars = sum(len(value) for batch in values for value in batch)
    fewest = max(math.ceil(2000 / MAX_RECORDS), math.ceil(chars / MAX_CHARS))
    assert len(batches) == fewest == 5
    assert all(len(batch) <= MAX_RECORDS and sum(map(len, batch)) <= MAX_CHARS for batch in values)
    assert calls.count() == {
        "ListHostedZonesByName": 1,
        "ListResourceRecordSets": 1,  # the check before applying: one listing of the zone
        "ChangeResourceRecordSets": 5,
    }

    assert provider.read("example.com.", owners) == created
    assert calls.count()["ListResourceRecordSets"] == 1 + math.ceil(1002 / 300)
