"""Reading the TLSA RRsets of many owners from a real BIND primary: queries versus one AXFR.

Run from the repository root: `python benchmarks/rfc2136_read_strategies.py`.
It starts the test lab (BIND with inline signing), publishes 1,000 owners with two `3 1 1` records
each, and prints the median of 5 reads of N of them by each strategy, plus the same queries over
TCP. The zone holds little else: an AXFR of a zone with more names takes longer.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.flags
import dns.message
import dns.query

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from tests.testbed import start_lab
from tests.testbed.model import Zone
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.provider import ProviderSettings
from tlsagen.testing import record
from tlsagen_rfc2136 import create, provider

SIZES = (10, 100, 300, 500, 1000)
RUNS = 5


def median_time(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def published(
    zone: Zone, label: str, count: int, per_owner: int
) -> tuple[ProviderSettings, list[Owner]]:
    """The settings of a provider for the lab zone's primary, once that provider has published
    `count` owners named `LABEL<n>` with `per_owner` `3 1 1` records each; and the owners."""
    settings = ProviderSettings(
        "bench",
        {"server": zone.primary.address(), "key-file": str(zone.key.key_file)},
        "benchmark",
        Path("/"),
    )
    owners = [Owner.for_service(f"{label}{n}.{zone.name}", 25) for n in range(count)]
    changes = (
        Change(o, None, rrset(o, 300, [record(f"{o.name}{i}") for i in range(per_owner)]))
        for o in owners
    )
    create(settings).apply(ChangeSet(zone.name, tuple(changes)))
    return settings, owners


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir, start_lab(Path(workdir)) as lab:
        zone = lab.bind
        settings, owners = published(zone, "bench", max(SIZES), 2)

        def tcp_queries(wanted: list[Owner]) -> None:
            def ask(owner: Owner) -> None:
                request = dns.message.make_query(owner.name, "TLSA")
                request.flags &= ~dns.flags.RD
                dns.query.tcp(request, zone.primary.host, 2, zone.primary.port)

            with ThreadPoolExecutor(provider.WORKERS) as pool:
                list(pool.map(ask, wanted))

        time.sleep(3)  # let BIND finish signing the new records: it competes for the CPU
        print(f"zone {zone.name} on BIND {zone.primary.address()}: {len(owners)} TLSA owners")
        print("owners   queries (UDP)   queries (TCP)   AXFR      AXFR / queries (UDP)")
        provider.AXFR_RECORDS_PER_OWNER = 10**9  # a whole transfer, however large
        for size in SIZES:
            wanted = owners[:size]
            provider.AXFR_MIN_OWNERS = size + 1
            by_queries = create(settings)
            udp = median_time(lambda: by_queries.read(zone.name, wanted))  # noqa: B023
            tcp = median_time(lambda: tcp_queries(wanted))  # noqa: B023
            provider.AXFR_MIN_OWNERS = 1
            by_axfr = create(settings)
            axfr = median_time(lambda: by_axfr.read(zone.name, wanted))  # noqa: B023
            assert by_axfr.read(zone.name, wanted) == by_queries.read(zone.name, wanted)
            print(f"{size:6}   {udp:11.3f} s   {tcp:11.3f} s   {axfr:.3f} s   {axfr / udp:6.2f}")


if __name__ == "__main__":
    main()
