"""The provider contract and the registry that finds installed providers by entry point."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from tlsagen.errors import InputError
from tlsagen.records import ChangeSet, Owner, RRset

ENTRY_POINT_GROUP = "tlsagen.providers"


@dataclass(frozen=True)
class Endpoint:
    """An authoritative server that must serve a change before it counts as published."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"


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


ProviderFactory = Callable[["ProviderSettings"], Provider]


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


@dataclass(frozen=True)
class ProviderSettings:
    """What a provider factory receives: its `[providers.NAME]` table, checked by the provider."""

    name: str
    options: Mapping[str, Any]  # the table without "type"
    where: str  # "tlsagen.toml [providers.NAME]", for error messages
    base_dir: Path  # relative paths in options resolve against the config file's directory
    resolver: Endpoint | None = None  # [defaults] resolver, for zone and NS lookups


def parse_endpoint(text: str, where: str, default_port: int = 53) -> Endpoint:
    """`IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address."""
    import ipaddress

    host, port = text.strip(), default_port
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), text, where)
    elif host.count(":") == 1:
        host, raw_port = host.split(":")
        port = _port(raw_port, text, where)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not an IP address with an optional :PORT") from None
    return Endpoint(host, port)


def _port(text: str, value: str, where: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not 0 < int(text) < 65536:
        raise InputError(f"{where}: '{value}' has a bad port (expected 1-65535)")
    return int(text)
