"""Zone lookup on moto_server: kinds of zone, longest match, duplicates, zone-id, call counts."""

from __future__ import annotations

from typing import Any

import pytest

from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.errors import InputError, ProviderError
from tlsagen.testing import record

MX = Owner.for_service("mx.example.com", 25)
SUB_MX = Owner.for_service("mx.sub.example.com", 25)


def tlsa_names(admin: Any, zone_id: str) -> list[str]:
    listed = admin.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [rs["Name"] for rs in listed if rs["Type"] == "TLSA"]


@pytest.mark.parametrize("private", [False, True])
def test_public_or_private_zone_of_the_same_name(
    route53: Any, admin: Any, create_zone: Any, private: bool
) -> None:
    public, hidden = create_zone("example.com"), create_zone("example.com", private=True)
    provider, _ = route53(private=private)
    assert provider.zones([MX]) == {MX: "example.com."}
    provider.apply(ChangeSet("example.com.", (Change(MX, None, rrset(MX, 300, [record("a")])),)))
    used, untouched = (hidden, public) if private else (public, hidden)
    assert tlsa_names(admin, used) == [MX.name]
    assert tlsa_names(admin, untouched) == []


def test_longest_matching_zone(route53: Any, create_zone: Any) -> None:
    create_zone("example.com")
    create_zone("sub.example.com")
    create_zone("other.example.com")
    provider, _ = route53()
    assert provider.zones([MX, SUB_MX]) == {MX: "example.com.", SUB_MX: "sub.example.com."}


def test_two_zones_with_one_name_is_an_error_naming_both(route53: Any, create_zone: Any) -> None:
    ids = create_zone("example.com"), create_zone("example.com")
    provider, _ = route53()
    with pytest.raises(InputError) as error:
        provider.zones([MX])
    assert all(zone_id in str(error.value) for zone_id in ids)
    assert "zone-id" in str(error.value)


def test_zone_id_overrides_the_lookup(route53: Any, create_zone: Any) -> None:
    parent = create_zone("example.com")
    create_zone("sub.example.com")
    provider, calls = route53(zone_id=f"/hostedzone/{parent}")
    assert provider.zones([SUB_MX]) == {SUB_MX: "example.com."}
    assert calls.count() == {"GetHostedZone": 1}
    with pytest.raises(InputError, match="zone-id"):
        provider.zones([Owner.for_service("mx.example.org", 25)])


def test_unknown_zone_id(route53: Any) -> None:
    provider, _ = route53(zone_id="Z0NOSUCHZONE")
    with pytest.raises(InputError, match="no hosted zone Z0NOSUCHZONE"):
        provider.zones([MX])


def test_no_zone_holds_the_owner(route53: Any, create_zone: Any) -> None:
    create_zone("example.org")
    create_zone("example.com", private=True)
    provider, _ = route53()
    with pytest.raises(ProviderError, match=r"no public Route 53 hosted zone .* holds _25"):
        provider.zones([MX])


def test_lookups_grow_with_zones_not_owners(route53: Any, create_zone: Any) -> None:
    create_zone("example.com")
    create_zone("sub.example.com")
    owners = [Owner.for_service(f"mx{n}.example.com", 25) for n in range(200)]
    owners += [Owner.for_service(f"mx{n}.sub.example.com", 25) for n in range(200)]
    provider, calls = route53()
    zones = provider.zones(owners)
    assert set(zones.values()) == {"example.com.", "sub.example.com."}
    provider.zones(owners)
    provider.read("example.com.", owners[:3])
    assert calls.count()["ListHostedZonesByName"] == 1
