"""Real DNS servers on loopback for the tests: a private signed root, BIND, Knot and Unbound."""

from .lab import flush_resolver, nsupdate, start_lab
from .model import DnsLab, Server, TsigKey, Zone
from .probe import query
from .proc import LabError, pause

__all__ = [
    "DnsLab",
    "LabError",
    "Server",
    "TsigKey",
    "Zone",
    "flush_resolver",
    "nsupdate",
    "pause",
    "query",
    "start_lab",
]
