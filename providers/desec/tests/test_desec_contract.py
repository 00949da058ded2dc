"""The provider contract from tlsagen.testing, against the deSEC emulator. The contract writes
TTLs of 120-3600 s: the domain has the lower minimum TTL deSEC grants on request (60 s), and the
provider is told so (minimum-ttl)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.emulators.desec import DesecEmulator
from tlsagen.core.records import Owner, RRset
from tlsagen.testing import Harness, ProviderContract


@pytest.fixture
def harness(desec_api: DesecEmulator, desec: Any) -> Harness:
    desec_api.add_domain("example.com", minimum_ttl=60)
    desec_api.add_domain("sub.example.com", minimum_ttl=60)

    def external_write(owner: Owner, rrset: RRset | None) -> None:
        subname = owner.name.removesuffix(".example.com.")
        desec_api.put(
            "example.com", subname, rrset.ttl if rrset else 0, rrset.texts() if rrset else []
        )

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        desec_api.put("example.com", owner.name.removesuffix(".example.com."), 300, list(texts))

    return Harness(desec(minimum_ttl=60), "example.com.", external_write, plant=plant)


class TestDesecContract(ProviderContract):
    pass
