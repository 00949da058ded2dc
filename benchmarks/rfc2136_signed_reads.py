"""What signing the RFC 2136 provider's reads costs: TSIG-signed queries (what `read` sends, each
answer's signature checked) against the same queries unsigned, from a real BIND primary.

Run from the repository root: `python benchmarks/rfc2136_signed_reads.py`.
It starts the test lab (BIND with inline signing), publishes 300 owners with two `3 1 1` records
each, and prints the median of 5 reads of N of them, signed and unsigned, and their ratio.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.rdatatype
import dns.tsig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from benchmarks.rfc2136_read_strategies import median_time
from tests.testbed import start_lab
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen.testing import record
from tlsagen_rfc2136 import create, provider, transport
from tlsagen_rfc2136.config import parse_settings

TLSA = dns.rdatatype.TLSA

SIZES = (10, 100, 300)


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir, start_lab(Path(workdir)) as lab:
        zone = lab.bind
        server = Endpoint(zone.primary.host, zone.primary.port)
        settings = ProviderSettings(
            "bench",
            {"server": zone.primary.address(), "key-file": str(zone.key.key_file)},
            "benchmark",
            Path("/"),
        )
        owners = [Owner.for_service(f"signed{n}.{zone.name}", 25) for n in range(max(SIZES))]
        reader = create(settings)
        reader.apply(
            ChangeSet(
                zone.name,
                tuple(Change(o, None, rrset(o, 300, [record(o.name)])) for o in owners),
            )
        )
        provider.AXFR_MIN_OWNERS = 10**9  # queries only

        key = zone_key(settings)

        def queries(wanted: list[Owner], signed: bool) -> None:
            def ask(owner: Owner) -> None:
                transport.query(owner.name, TLSA, server, 2.0, key if signed else None)

            with ThreadPoolExecutor(provider.WORKERS) as pool:
                list(pool.map(ask, wanted))

        time.sleep(3)  # let BIND finish signing the new records: it competes for the CPU
        print(f"zone {zone.name} on BIND {zone.primary.address()}: {len(owners)} TLSA owners")
        print("owners   read (signed)   signed queries   unsigned queries   signed / unsigned")
        for size in SIZES:
            wanted = owners[:size]
            read = median_time(lambda: reader.read(zone.name, wanted))  # noqa: B023
            signed = median_time(lambda: queries(wanted, True))  # noqa: B023
            plain = median_time(lambda: queries(wanted, False))  # noqa: B023
            print(
                f"{size:6}   {read:11.3f} s   {signed:12.3f} s   {plain:14.3f} s   "
                f"{signed / plain:8.2f}"
            )


def zone_key(settings: ProviderSettings) -> dns.tsig.Key:
    """The key the provider signs with, from the same settings."""
    return parse_settings(settings).key.dns_key()


if __name__ == "__main__":
    main()
