"""The installed providers, found by entry point; each imported only when a run needs it."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from tlsagen.errors import InputError

if TYPE_CHECKING:
    from tlsagen.provider import ProviderFactory

ENTRY_POINT_GROUP = "tlsagen.providers"


def installed() -> dict[str, str]:
    """Installed provider type -> distribution and version, without importing any of them."""
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        dist = point.dist
        found[point.name] = f"{dist.name} {dist.version}" if dist else "(unknown distribution)"
    return dict(sorted(found.items()))


# The providers this project ships, each in its own distribution: type -> distribution.
KNOWN = {"rfc2136": "tlsagen-rfc2136", "route53": "tlsagen-route53", "zonefile": "tlsagen-zonefile"}


def load(kind: str) -> ProviderFactory:
    """The factory of provider `kind`; imports that provider only."""
    for point in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        factory: ProviderFactory = point.load()
        return factory
    raise InputError(missing_provider(kind, installed()))


def missing_provider(kind: str, available: Mapping[str, str]) -> str:
    """Why provider type `kind` cannot be loaded, and what to do: install a known provider, or
    correct a mistyped type (never a package name that does not exist)."""
    listed = ", ".join(available) or "none"
    if kind in KNOWN:
        return (
            f"provider type '{kind}' is not installed (installed: {listed}); "
            f"install it with: pip install {KNOWN[kind]}"
        )
    import difflib

    known = f"installed: {listed}; the project ships {', '.join(KNOWN)}"
    close = difflib.get_close_matches(kind.lower(), sorted({*available, *KNOWN}), 1, 0.5)
    if close:
        return f"unknown provider type '{kind}': did you mean '{close[0]}'? ({known})"
    return f"unknown provider type '{kind}' ({known})"
