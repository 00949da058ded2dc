"""tlsagen's zone-file provider: publish TLSA records by editing BIND zone files (GitOps)."""

from __future__ import annotations

from tlsagen.provider import Provider, ProviderSettings
from tlsagen_zonefile.provider import ZonefileProvider
from tlsagen_zonefile.settings import Settings

__version__ = "0.1.0"


def create(settings: ProviderSettings) -> Provider:
    """The provider for one `[providers.NAME]` table with `type = "zonefile"`."""
    return ZonefileProvider(Settings.parse(settings))
