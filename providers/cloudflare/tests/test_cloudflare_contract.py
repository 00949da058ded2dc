"""The provider contract from tlsagen.testing, against the Cloudflare emulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tlsagen.core.records import Owner, RRset
from tlsagen.testing import Harness, ProviderContract
from tlsagen_cloudflare.provider import tlsa_data


@pytest.fixture
def harness(cloudflare_api: CloudflareEmulator, cloudflare: Any) -> Harness:
    zone_id = cloudflare_api.add_zone("example.com")
    cloudflare_api.add_zone("other.example")

    def external_write(owner: Owner, rrset: RRset | None) -> None:
        name = owner.name.rstrip(".")
        for record in cloudflare_api.at(name):
            cloudflare_api.remove(record["id"])
        for item in rrset.records if rrset else ():
            cloudflare_api.add(zone_id, name, tlsa_data(item), rrset.ttl if rrset else 300)

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        external_write(owner, None)
        for text in texts:
            usage, selector, matching_type, certificate = text.split()
            fields = {"usage": usage, "selector": selector, "matching_type": matching_type}
            data = {key: int(value) for key, value in fields.items()}
            cloudflare_api.add(
                zone_id, owner.name.rstrip("."), {**data, "certificate": certificate}
            )

    return Harness(cloudflare(), "example.com.", external_write, plant=plant)


class TestCloudflareContract(ProviderContract):
    pass
