"""tlsagen provider that publishes TLSA records by RFC 2136 dynamic update, signed with TSIG."""

from __future__ import annotations

from tlsagen.provider import ProviderSettings
from tlsagen_rfc2136.config import parse_settings
from tlsagen_rfc2136.provider import Rfc2136Provider

__all__ = ["Rfc2136Provider", "create"]


def create(settings: ProviderSettings) -> Rfc2136Provider:
    """The provider for a `[providers.NAME]` table with `type = "rfc2136"`."""
    return Rfc2136Provider(parse_settings(settings))
