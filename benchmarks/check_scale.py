"""`tlsagen check` of 1,000 mail hosts in one run: bounded concurrency, bounded memory, and no
file descriptor or thread left behind.

The hosts are those of benchmarks/check.py (b1..bN in the signed zone of the DNS lab, each with
the TLSA records of the testbed's Postfix). A thread samples the process every 10 ms: open file
descriptors (/proc/self/fd) and threads. Printed: wall time, the DNS messages sent (by type),
the peaks, the descriptors and threads before and after, the maximum RSS, and tracemalloc's peak
(measured on a second run: tracemalloc slows Python down).
Targets: every check passes; open descriptors at most 4 per worker above the start; threads at
most the workers above the start; as many descriptors and threads after as before; peak memory
under 200 MiB.

Usage: python benchmarks/check_scale.py [--hosts 1000] [--workers 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check import mail_hosts, warm_up
from benchmarks.measure import MIB, DnsMessages, measured
from tlsagen.check import Settings, check

FDS_PER_WORKER = 4  # a DNS socket or a TLS connection at a time, and slack
TARGET_PEAK = 200 * MIB


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Sampler(threading.Thread):
    """The most descriptors and threads this process had while it ran."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.fds = self.threads = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.fds = max(self.fds, open_fds())
            self.threads = max(self.threads, threading.active_count() - 1)  # not this one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()
    messages = DnsMessages()
    messages.install()
    with (
        tempfile.TemporaryDirectory(prefix="tlsagen-bench-") as tmp,
        mail_hosts(Path(tmp), args.hosts) as lab,
    ):
        targets, base = lab.targets, lab.base
        warm_up(targets, base, args.workers)
        settings = Settings(**base, workers=args.workers)
        fds, threads = open_fds(), threading.active_count()
        sampler = Sampler()
        sampler.start()
        with measured(f"check of {args.hosts} hosts, {args.workers} workers", messages.sent) as run:
            report = check(targets, settings)
        sampler.done.set()
        sampler.join()
        fds_after, threads_after = open_fds(), threading.active_count()
        tracemalloc.start()
        with measured("the same, traced", messages.sent) as traced:
            check(targets, settings)
        tracemalloc.stop()
    error = report.error(strict=False)
    print(run.line())
    print(traced.line())
    print(f"open descriptors: {fds} before, at most {sampler.fds} during, {fds_after} after")
    print(f"threads: {threads} before, at most {sampler.threads} during, {threads_after} after")
    problems = [f"a check found a problem: {error}"] if error else []
    if sampler.fds > fds + FDS_PER_WORKER * args.workers:
        problems.append(f"{sampler.fds - fds} descriptors open at once")
    if sampler.threads > threads + args.workers:
        problems.append(f"{sampler.threads - threads} threads at once")
    if (fds_after, threads_after) != (fds, threads):
        problems.append("descriptors or threads left behind")
    if traced.traced_peak >= TARGET_PEAK:
        problems.append(f"peak traced memory {traced.traced_peak / MIB:.0f} MiB")
    print("TARGETS MISSED: " + "; ".join(problems) if problems else "targets met")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
