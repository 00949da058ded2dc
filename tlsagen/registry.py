"""The provider contract (`Provider`, `ProviderSettings`) and the installed providers, found by
entry point; each imported only when a run needs it. Providers import these through
tlsagen.provider."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tlsagen.errors import InputError

if TYPE_CHECKING:
    from tlsagen.core.endpoint import Endpoint
    from tlsagen.core.records import ChangeSet, Owner, RRset

ENTRY_POINT_GROUP = "tlsagen.providers"


class Provider(Protocol):
    """What a DNS backend does. Only I/O lives behind it; tlsagen computes every change itself."""

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        """The zone (absolute name) each owner belongs to."""

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        """The TLSA RRsets DNS holds now for `owners` of `zone` (owners without one are absent)."""

    def apply(self, changes: ChangeSet) -> None:
        """Apply all changes or none; ConflictError if any `before` is no longer what DNS holds."""

    def servers(self, zone: str) -> Sequence[Endpoint]:
        """Every authoritative server to poll for propagation; empty when `apply` already waits."""

    def confirmed(self, zone: str) -> Endpoint | None:
        """The server among `servers(zone)` that a read after the last `apply` to `zone` showed
        serving every change it made (the wait does not ask it again); None if none did."""

    def served(
        self, zone: str, server: Endpoint, owners: Collection[Owner]
    ) -> Mapping[Owner, RRset] | None:
        """What `server` (one of `servers(zone)`) serves at `owners`, read in one exchange for
        the whole zone (a zone transfer); None when the provider cannot read so (the server
        refuses, or one query per owner costs less): the wait then asks about each owner."""


class ReadsNoServer:
    """`confirmed` and `served` for a provider whose reads tell nothing about the servers it
    lists (an HTTP API, a file, or no servers listed): the wait asks each server about each
    owner. Such a provider subclasses it."""

    def confirmed(self, zone: str) -> Endpoint | None:
        return None

    def served(
        self, zone: str, server: Endpoint, owners: Collection[Owner]
    ) -> Mapping[Owner, RRset] | None:
        return None


# The protocol's methods, read from it: a method added to it is required of every provider.
METHODS = tuple(
    name for name, value in vars(Provider).items() if callable(value) and name[0] != "_"
)
ProviderFactory = Callable[["ProviderSettings"], Provider]


@dataclass(frozen=True)
class ProviderSettings:
    """What a provider factory receives: its `[providers.NAME]` table, checked by the provider."""

    name: str
    options: Mapping[str, Any]  # the table without "type"
    where: str  # "tlsagen.toml [providers.NAME]", for error messages
    base_dir: Path  # relative paths in options resolve against the config file's directory
    resolver: Endpoint | None = None  # [defaults] resolver, for zone and NS lookups


def installed() -> dict[str, str]:
    """Installed provider type -> distribution and version, without importing any of them."""
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        dist = point.dist
        found[point.name] = f"{dist.name} {dist.version}" if dist else "(unknown distribution)"
    return dict(sorted(found.items()))


# The providers this project ships, each in its own distribution: type -> distribution.
KNOWN = {
    kind: f"tlsagen-{kind}"
    for kind in ("cloudflare", "desec", "powerdns", "rfc2136", "route53", "zonefile")
}


def load(kind: str) -> ProviderFactory:
    """The factory of provider `kind`; imports that provider only."""
    for point in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        factory: ProviderFactory = point.load()
        return factory
    raise InputError(missing_provider(kind, installed()))


def create(kind: str, settings: ProviderSettings) -> Provider:
    """Provider `kind` made from its settings; InputError when it lacks a method of the
    `Provider` protocol (a distribution built for another tlsagen version): found before any
    change is made, not when the wait first needs the method."""
    provider = load(kind)(settings)
    lacking = [name for name in METHODS if not callable(getattr(provider, name, None))]
    if lacking:
        raise InputError(
            f"{settings.where}: provider type '{kind}' lacks {', '.join(lacking)} of the "
            f"provider API of this tlsagen ({installed().get(kind, 'unknown distribution')}); "
            "install the provider version that matches tlsagen's"
        )
    return provider


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
