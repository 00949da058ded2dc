"""`Endpoint`: a DNS server's address and port, and reading one from configuration text."""

from __future__ import annotations

from dataclasses import dataclass

from tlsagen.errors import InputError


@dataclass(frozen=True)
class Endpoint:
    """An authoritative server that must serve a change before it counts as published."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"


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
