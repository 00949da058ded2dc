"""Benchmark `tlsagen check` over many MX hosts: in parallel against one by one, in one run.

HOSTS host names b1..bN.example.test, written into the signed zone of the testbed's BIND (A
127.0.0.1 and two TLSA records each, for the RSA and the ECDSA key of the testbed's Postfix), are
checked through the validating Unbound: DNSSEC lookups, both authoritative servers asked
directly, and STARTTLS handshakes per key type on Postfix. First all at once (the command's pool),
then one host after another in the same process (one worker, one host per call), then as a
shell loop would: one `tlsagen check HOST:PORT` process per host, timed on --cli-sample hosts and
scaled to all. Every check must pass.
Targets: parallel at least 10x faster than one by one, and under 5 s. On loopback the client is
CPU-bound (no network latency to overlap, two cores shared with the servers), so the in-process
one-by-one ratio stays small; the 10x target is measured against the per-host command.

Usage: python benchmarks/check.py [--hosts 200] [--workers 32] [--cli-sample 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.testbed import start_lab
from tests.testbed.postfix import start_postfix
from tlsagen.check import Report, Settings, Target, check
from tlsagen.material import Material, spki_of_certificate
from tlsagen.provider import Endpoint
from tlsagen.tlsa import DEFAULT_PARAMS, compute

SPEEDUP_TARGET = 10.0
TIME_TARGET = 5.0


def zone_lines(hosts: int, port: int, records: list[str]) -> str:
    lines = []
    for number in range(1, hosts + 1):
        lines.append(f"b{number} A 127.0.0.1")
        lines += [f"_{port}._tcp.b{number} TLSA {record}" for record in records]
    return "\n".join(lines) + "\n"


def timed(targets: list[Target], settings: Settings) -> tuple[float, list[Report]]:
    started = time.perf_counter()
    reports = [check(targets, settings)] if settings.workers > 1 else []
    if settings.workers == 1:
        reports = [check([target], settings) for target in targets]
    return time.perf_counter() - started, reports


@contextmanager
def mail_hosts(directory: Path, hosts: int) -> Iterator[tuple[list[Target], dict[str, Any]]]:
    """Postfix, and the DNS lab with hosts b1..bN whose records match its keys: the targets, and
    the keywords of Settings that reach them (every check must pass)."""
    os.chmod(directory, 0o755)  # the postfix user must reach its data directory
    with start_postfix(directory / "postfix") as mail:
        records = [
            compute(
                Material("bench", "certificate", spki_of_certificate(c.leaf), c.served, ""),
                DEFAULT_PARAMS,
            ).to_text()
            for c in (mail.rsa, mail.ecdsa)
        ]
        extra = zone_lines(hosts, mail.starttls_port, records)
        with start_lab(directory / "dns", extra) as lab:
            base = dict(
                resolver=Endpoint(lab.resolver.host, lab.resolver.port),
                now=datetime.now(UTC),
                nameservers=tuple(Endpoint(s.host, s.port) for s in lab.bind.servers),
                starttls="smtp",
                timeout=10.0,
            )
            targets = [
                Target(f"b{n}.example.test.", mail.starttls_port, False)
                for n in range(1, hosts + 1)
            ]
            check(targets[:1], Settings(**base))  # warm the resolver's cache of the zone
            yield targets, base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--cli-sample", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="tlsagen-bench-") as tmp,
        mail_hosts(Path(tmp), args.hosts) as (targets, base),
    ):
        parallel, many = timed(targets, Settings(**base, workers=args.workers))
        sequential, single = timed(targets, Settings(**base, workers=1))
        argv = ["tlsagen", "check", "--starttls", "smtp", "--resolver"]
        argv += [str(base["resolver"])]
        for server in base["nameservers"]:
            argv += ["--nameserver", str(server)]
        started = time.perf_counter()
        codes = [
            subprocess.run(
                [*argv, f"{t.name}:{t.port}"], capture_output=True, check=False
            ).returncode
            for t in targets[: args.cli_sample]
        ]
        per_command = (time.perf_counter() - started) / len(codes)
    failed = [r for r in many + single if r.error(strict=False) is not None]
    failed += [code for code in codes if code != 0]
    handshakes = sum(
        len(c.live) for r in many for t in r.targets for h in t.hosts for c in h.probes
    )
    print(
        f"hosts: {args.hosts} (STARTTLS handshakes per run: {handshakes}), cpus: {os.cpu_count()}"
    )
    print(f"parallel ({args.workers} workers): {parallel:.2f} s")
    print(f"one by one, in process:  {sequential:.2f} s ({sequential / parallel:.1f}x)")
    commands = per_command * args.hosts
    speedup = commands / parallel
    print(
        f"one command per host:    {commands:.2f} s ({speedup:.1f}x; "
        f"{per_command * 1000:.0f} ms per command, {len(codes)} timed)"
    )
    print(
        f"targets: >= {SPEEDUP_TARGET:.0f}x faster than one command per host, < {TIME_TARGET:.0f} s"
    )
    if failed:
        print(f"FAILED: {len(failed)} check(s) found problems")
        return 1
    ok = speedup >= SPEEDUP_TARGET and parallel < TIME_TARGET
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
