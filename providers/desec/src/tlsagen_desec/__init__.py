"""tlsagen's deSEC provider: TLSA RRsets through deSEC's atomic bulk rrset endpoint, standard
library HTTP only."""

from __future__ import annotations

from tlsagen.provider import Provider, ProviderSettings

__version__ = "0.1.0"


def create(settings: ProviderSettings) -> Provider:
    """The provider for one `[providers.NAME]` table with `type = "desec"`."""
    from tlsagen_desec.provider import DesecProvider, parse

    return DesecProvider(parse(settings))
