"""The PowerDNS lab (a real pdns_server with its API, a signed zone, a validating Unbound), and
providers configured for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.testbed.powerdns import PowerDns, powerdns, powerdns_server
from tlsagen.provider import ProviderSettings
from tlsagen_powerdns import create
from tlsagen_powerdns.provider import PowerDnsProvider

__all__ = ["powerdns", "powerdns_server"]  # fixtures
KEY_ENV = "TLSAGEN_TEST_PDNS_KEY"
WHERE = "tlsagen.toml [providers.pdns]"

Make = Callable[..., PowerDnsProvider]


def options(lab: PowerDns, **extra: Any) -> dict[str, Any]:
    """A provider table for the lab: the key by `env:` reference."""
    table = {"api-url": lab.api_url, "api-key": f"env:{KEY_ENV}", "server": lab.dns.address()}
    return {**table, **{key.replace("_", "-"): value for key, value in extra.items()}}


@pytest.fixture
def make(powerdns: PowerDns, monkeypatch: pytest.MonkeyPatch) -> Make:
    """A provider on the lab (options as in tlsagen.toml), its API key in the environment."""
    monkeypatch.setenv(KEY_ENV, powerdns.api_key)

    def build(**extra: Any) -> PowerDnsProvider:
        settings = ProviderSettings("pdns", options(powerdns, **extra), WHERE, Path("."))
        provider = create(settings)
        assert isinstance(provider, PowerDnsProvider)
        return provider

    return build
