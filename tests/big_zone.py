"""A zone file of many hosts, and the zone-file provider that reads it: the zone-file size tests'
(providers/zonefile/tests/test_zonefile_sizes.py) and benchmarks/zonefile_size.py's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tlsagen.provider import ProviderSettings
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider
from tlsagen_zonefile.settings import Settings


def write_big_zone(path: Path, hosts: int) -> Path:
    """A zone file for example.test. with an A and a TLSA record for each of `hosts` hosts
    (h0, h1, ...): the hostile-size tests' and benchmarks/zonefile_size.py's."""
    data = record("current").to_text()
    lines = ["$ORIGIN example.test.\n$TTL 3600\n@ IN SOA ns1 hm 1 7200 3600 1209600 300\n"]
    lines += ["@ IN NS ns1\n"]
    lines += [f"h{i} IN A 192.0.2.1\n_25._tcp.h{i} 300 IN TLSA {data}\n" for i in range(hosts)]
    path.write_text("".join(lines))
    return path


def zone_provider(path: Path) -> ZonefileProvider:
    """The zone-file provider for the one zone file at `path`, its serials dated 2026-11-28."""
    settings = ProviderSettings("zones", {"path": str(path)}, "zones", path.parent)
    return ZonefileProvider(Settings.parse(settings), today=lambda: date(2026, 11, 28))
