"""Zone files of 20,000 and 100,000 records through the zone-file provider: reading the TLSA RRsets
of every fifth host, and adding a next key's record to every twentieth. Each is timed and its peak
of Python memory traced (in a second, traced run: tracemalloc slows Python down several times).

Baseline, measured in the same run on the same files: dnspython's own zone reader
(dns.zone.from_file), which the provider also uses to check every file it writes. Growth: the
100,000-record figures over the 20,000-record ones (5 means linear in the size of the file).

Usage: python benchmarks/zonefile_size.py [--records 20000,100000]   (about 7 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import dns.zone

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import MIB
from tests.big_zone import write_big_zone, zone_provider
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.testing import record

ZONE = "example.test."


def owners(hosts: int, every: int) -> list[Owner]:
    return [Owner(f"_25._tcp.h{i}.{ZONE}") for i in range(0, hosts, every)]


def read(path: Path, hosts: int) -> None:
    zone_provider(path).read(ZONE, owners(hosts, 5))


def add_next_keys(path: Path, hosts: int) -> None:
    chosen = owners(hosts, 20)
    zones = zone_provider(path)
    held = zones.read(ZONE, chosen)
    changes = tuple(
        Change(o, held[o], rrset(o, 300, [record("current"), record("next")])) for o in chosen
    )
    zones.apply(ChangeSet(ZONE, changes))


def dnspython(path: Path, hosts: int) -> None:
    dns.zone.from_file(str(path), ZONE, relativize=False)


def measure(step: Callable[[Path, int], None], path: Path, hosts: int) -> tuple[float, float]:
    """(seconds, traced peak in MiB) of `step` on a fresh copy of `path`."""
    copy = path.with_suffix(".copy")
    copy.write_bytes(path.read_bytes())
    started = time.perf_counter()
    step(copy, hosts)
    seconds = time.perf_counter() - started
    copy.write_bytes(path.read_bytes())
    tracemalloc.start()
    step(copy, hosts)
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    copy.unlink()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", default="20000,100000", help="zone sizes, comma-separated")
    sizes = [int(n) for n in parser.parse_args().records.split(",")]
    steps = {
        "dnspython zone reader (baseline)": dnspython,
        "tlsagen read, every 5th owner": read,
        "tlsagen add a record, every 20th owner": add_next_keys,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    with tempfile.TemporaryDirectory() as directory:
        for size in sizes:
            path = write_big_zone(Path(directory) / f"{size}.zone", size // 2)
            print(f"{size} records, {path.stat().st_size / MIB:.1f} MiB:")
            for name, step in steps.items():
                seconds, peak = measure(step, path, size // 2)
                results[name].append((seconds, peak))
                base_seconds, base_peak = results["dnspython zone reader (baseline)"][-1]
                print(
                    f"  {name}: {seconds:.2f} s ({seconds / base_seconds:.2f}x baseline), "
                    f"peak {peak:.0f} MiB ({peak / base_peak:.2f}x baseline)"
                )
    if len(sizes) > 1:
        growth = sizes[-1] / sizes[0]
        print(f"growth from {sizes[0]} to {sizes[-1]} records ({growth:g}x the file):")
        for name, figures in results.items():
            (s0, p0), (s1, p1) = figures[0], figures[-1]
            print(f"  {name}: time {s1 / s0:.1f}x, peak memory {p1 / p0:.1f}x")


if __name__ == "__main__":
    main()
