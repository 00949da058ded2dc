"""tlsagen's Cloudflare provider: TLSA records through the Cloudflare API v4, standard library
HTTP only (docs/providers/cloudflare.md says why not the official SDK)."""

from __future__ import annotations

from tlsagen.provider import Provider, ProviderSettings

__version__ = "0.1.0"


def create(settings: ProviderSettings) -> Provider:
    """The provider for one `[providers.NAME]` table with `type = "cloudflare"`."""
    from tlsagen_cloudflare.provider import CloudflareProvider, parse

    return CloudflareProvider(parse(settings))
