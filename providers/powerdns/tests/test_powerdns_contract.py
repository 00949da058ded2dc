"""The shared provider contract, against a real pdns_server through its HTTP API."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from tests.testbed.powerdns import PowerDns, write_tlsa
from tlsagen.core.records import Owner, RRset
from tlsagen.testing import Harness, ProviderContract
from tlsagen_powerdns.provider import PowerDnsProvider


@pytest.fixture
def harness(powerdns: PowerDns, make: Callable[..., PowerDnsProvider], fresh_host: str) -> Harness:
    def external_write(owner: Owner, rrset: RRset | None) -> None:
        contents = rrset.texts() if rrset else []
        write_tlsa(powerdns, owner.name, rrset.ttl if rrset else 0, contents)

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        write_tlsa(powerdns, owner.name, 300, texts)

    return Harness(
        make(), powerdns.zone, external_write, prefix=f"contract-{fresh_host}-", plant=plant
    )


class TestPowerDnsContract(ProviderContract):
    pass
