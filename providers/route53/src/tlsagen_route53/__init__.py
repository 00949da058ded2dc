"""tlsagen's Amazon Route 53 provider. Importing this package is cheap: boto3 loads in `create`."""

from __future__ import annotations

from tlsagen.provider import Provider, ProviderSettings
from tlsagen_route53.settings import Settings

__version__ = "0.1.0"


def create(settings: ProviderSettings) -> Provider:
    """The provider for one `[providers.NAME]` table with `type = "route53"`."""
    parsed = Settings.parse(settings)
    from tlsagen_route53.aws import make_client
    from tlsagen_route53.provider import Route53Provider

    return Route53Provider(make_client(parsed), parsed)
