"""Benchmark `tlsagen check` over many MX hosts: in parallel against one by one, and how the time
grows with the host count, all measured in one run.

Host names b1..bN.example.test, written into the signed zone of the testbed's BIND (A 127.0.0.1
and two TLSA records each, for the RSA and the ECDSA key of the testbed's Postfix), are checked
through the validating Unbound: DNSSEC lookups, both authoritative servers asked directly, and
STARTTLS handshakes per key type on Postfix. After a warm-up (one parallel check of other
hosts, so that Postfix has started its smtpd processes), timed in this order:

1. the first HOSTS hosts at once (the command's pool of --workers);
2. the same hosts one after another in the same process (one worker, one host per call);
3. HOSTS x SCALE hosts at once;
4. as a shell loop would: one `tlsagen check HOST:PORT` process per host, timed on --cli-sample
   hosts and scaled to HOSTS (a figure, not a target).

Every check must pass. Targets: (2) / (1) >= 3 (concurrency pays even though the client, the
servers and the other users of the machine share its cores) and (3) / (1) <= 5.5 for SCALE 5
(the time grows linearly with the host count: 1.1 x SCALE).

Usage: python benchmarks/check.py [--hosts 200] [--scale 5] [--workers 32] [--cli-sample 5]
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

SPEEDUP_TARGET = 3.0  # one by one / in parallel
GROWTH_SLACK = 1.1  # in parallel: N x SCALE hosts take at most SCALE x this x the time of N


def zone_lines(hosts: int, port: int, records: list[str]) -> str:
    lines = []
    for number in range(1, hosts + 1):
        lines.append(f"b{number} A 127.0.0.1")
        lines += [f"_{port}._tcp.b{number} TLSA {record}" for record in records]
    return "\n".join(lines) + "\n"


def timed(targets: list[Target], settings: Settings) -> tuple[float, list[Report]]:
    """Seconds to check `targets`: all in one call, or with one worker one target per call."""
    started = time.perf_counter()
    if settings.workers > 1:
        reports = [check(targets, settings)]
    else:
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
                timeout=10.0,
            )
            targets = [
                Target(f"b{n}.example.test.", mail.starttls_port, False, starttls="smtp")
                for n in range(1, hosts + 1)
            ]
            yield targets, base


def warm_up(targets: list[Target], base: dict[str, Any], workers: int) -> None:
    """One parallel check of `workers` hosts before anything is timed, so that every timed run
    finds the servers as a running system has them: Postfix with its smtpd processes started
    (up to one per connection at a time), Unbound holding the zone's keys."""
    check(targets[:workers], Settings(**base, workers=workers))


def per_command(targets: list[Target], base: dict[str, Any]) -> tuple[float, list[int]]:
    """Seconds per `tlsagen check HOST:PORT` process, and their exit codes."""
    argv = ["tlsagen", "check", "--starttls", "smtp", "--resolver", str(base["resolver"])]
    for server in base["nameservers"]:
        argv += ["--nameserver", str(server)]
    started = time.perf_counter()
    codes = [
        subprocess.run([*argv, f"{t.name}:{t.port}"], capture_output=True, check=False).returncode
        for t in targets
    ]
    return (time.perf_counter() - started) / max(1, len(targets)), codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--cli-sample", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="tlsagen-bench-") as tmp,
        mail_hosts(Path(tmp), args.hosts * args.scale) as (everything, base),
    ):
        targets = everything[: args.hosts]
        warm_up(everything[-args.workers :], base, args.workers)
        parallel, many = timed(targets, Settings(**base, workers=args.workers))
        sequential, single = timed(targets, Settings(**base, workers=1))
        scaled, more = timed(everything, Settings(**base, workers=args.workers))
        command, codes = per_command(targets[: args.cli_sample], base)
    failed = [r for r in many + single + more if r.error(strict=False) is not None]
    failed += [code for code in codes if code != 0]
    handshakes = sum(
        len(c.live) for r in many for t in r.targets for h in t.hosts for c in h.probes
    )
    speedup, growth = sequential / parallel, scaled / parallel
    print(f"hosts: {args.hosts} (STARTTLS handshakes: {handshakes}), cpus: {os.cpu_count()}")
    print(f"parallel ({args.workers} workers):   {parallel:.2f} s")
    print(f"one by one, in process:    {sequential:.2f} s ({speedup:.1f}x the parallel time)")
    print(
        f"{len(everything)} hosts in parallel: {scaled:.2f} s "
        f"({growth:.2f}x the time of {args.hosts}, for {args.scale}x the hosts)"
    )
    if codes:
        print(
            f"one command per host:      {command * args.hosts:.2f} s "
            f"({command * args.hosts / parallel:.1f}x; {command * 1000:.0f} ms per command, "
            f"{len(codes)} timed)"
        )
    most = args.scale * GROWTH_SLACK
    print(
        f"targets: one by one >= {SPEEDUP_TARGET:.0f}x the parallel time; "
        f"{args.scale}x the hosts <= {most:.1f}x the time"
    )
    if failed:
        print(f"FAILED: {len(failed)} check(s) found problems")
        return 1
    ok = speedup >= SPEEDUP_TARGET and growth <= most
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
