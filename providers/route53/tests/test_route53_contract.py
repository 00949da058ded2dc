"""The provider contract from tlsagen.testing, against a real moto_server.

moto accepts a CREATE over an existing, different RRset (real Route 53 rejects it), so
`test_create_over_existing_conflicts` passes here only because `apply` reads the owners again
before it sends anything and refuses a stale `before` itself; see tlsagen_route53.provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tlsagen.core.records import Owner, RRset
from tlsagen.testing import Harness, ProviderContract


@pytest.fixture
def harness(route53: Any, admin: Any, create_zone: Any) -> Harness:
    zone_id = create_zone("example.com")
    provider, _ = route53()

    def external_write(owner: Owner, rrset: RRset | None) -> None:
        if rrset is None:
            listed = admin.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            found = [rs for rs in listed if rs["Name"] == owner.name and rs["Type"] == "TLSA"]
            changes = [{"Action": "DELETE", "ResourceRecordSet": rs} for rs in found]
        else:
            records = [{"Value": value} for value in rrset.texts()]
            changes = [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": owner.name,
                        "Type": "TLSA",
                        "TTL": rrset.ttl,
                        "ResourceRecords": records,
                    },
                }
            ]
        if changes:
            admin.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Changes": changes}
            )

    def plant(owner: Owner, values: Sequence[str]) -> None:
        record_set = {"Name": owner.name, "Type": "TLSA", "TTL": 300}
        record_set["ResourceRecords"] = [{"Value": value} for value in values]
        change = {"Action": "UPSERT", "ResourceRecordSet": record_set}
        admin.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})

    return Harness(provider, "example.com.", external_write, plant=plant)


class TestRoute53Contract(ProviderContract):
    pass
