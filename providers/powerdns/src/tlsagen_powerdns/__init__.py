"""tlsagen's PowerDNS provider: the Authoritative Server's HTTP API, standard library only."""

from __future__ import annotations

from tlsagen.provider import Provider, ProviderSettings
from tlsagen_powerdns.settings import Settings

__version__ = "0.1.0"


def create(settings: ProviderSettings) -> Provider:
    """The provider for one `[providers.NAME]` table with `type = "powerdns"`."""
    parsed = Settings.parse(settings)
    from tlsagen_powerdns.api import Api
    from tlsagen_powerdns.provider import PowerDnsProvider

    return PowerDnsProvider(Api(parsed), parsed)
