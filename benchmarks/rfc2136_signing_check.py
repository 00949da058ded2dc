"""What the RFC 2136 provider's DNSSEC check costs: the first read of a zone in a run asks the
primary for the zone's DNSKEY (one TSIG-signed query), later reads do not.

Run from the repository root: `python benchmarks/rfc2136_signing_check.py`.
It starts the test lab (BIND with inline signing), publishes 100 owners, and prints the median
of 5 reads of N of them by a fresh provider (the check included, as in every `plan` and
`publish` run) and by a provider that has checked the zone already (the baseline), and their
ratio.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from benchmarks.rfc2136_read_strategies import median_time, published
from tests.testbed import start_lab
from tlsagen_rfc2136 import create, provider

SIZES = (1, 10, 100)


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir, start_lab(Path(workdir)) as lab:
        zone = lab.bind
        settings, owners = published(zone, "checked", max(SIZES), 1)
        checked = create(settings)
        provider.AXFR_MIN_OWNERS = 10**9  # queries only: the check is one more query
        time.sleep(3)  # let BIND finish signing the new records: it competes for the CPU
        print(f"zone {zone.name} on BIND {zone.primary.address()}: {len(owners)} TLSA owners")
        print("owners   first read (check)   later read (baseline)   first / later")
        for size in SIZES:
            wanted = owners[:size]

            def first_read() -> None:
                checked._dnssec_checked.clear()  # as a new run finds it
                checked.read(zone.name, wanted)  # noqa: B023

            first = median_time(first_read)
            later = median_time(lambda: checked.read(zone.name, wanted))  # noqa: B023
            print(f"{size:6}   {first:16.4f} s   {later:19.4f} s   {first / later:11.2f}")


if __name__ == "__main__":
    main()
