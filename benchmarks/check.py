"""Benchmark `tlsagen check` over many MX hosts: in parallel against one by one, and how the time
grows with the host count, all measured in one run.

Host names b1..bN.example.test, written into the signed zone of the testbed's BIND (A 127.0.0.1
and two TLSA records each, for the RSA and the ECDSA key of the testbed's Postfix), are checked
through the validating Unbound: DNSSEC lookups, both authoritative servers asked directly, and
STARTTLS handshakes per key type on Postfix. After a warm-up (one parallel check of other
hosts, so that Postfix has started its smtpd processes), each repetition times, in this order:

1. the first HOSTS hosts at once (one call, the command's pool of --workers);
2. the same hosts one after another in the same process: one call with one worker, so that both
   runs do the same work (the facts a run shares, such as a zone's keys, are fetched once);
3. the same hosts with one call per host (as a loop of checks in one process would do: each call
   fetches its zone's facts again; a figure, not a target);
4. HOSTS x SCALE hosts at once;

and, once, as a shell loop would: one `tlsagen check HOST:PORT` process per host, timed on
--cli-sample hosts and scaled to HOSTS (a figure). The ratios are taken within each repetition;
the medians are printed with their spread (other users of the machine make single runs noisy).

Every check must pass. Targets: (2) / (1) >= 3 (concurrency pays even though the client, the
servers and the other users of the machine share its cores) and (4) / (1) <= 5.5 for SCALE 5
(the time grows linearly with the host count: 1.1 x SCALE).

Concurrency can only overlap waiting: it cannot make CPU work go faster than the machine's cores
allow. So the benchmark also prints the CPU the parallel run spends per host, in this process and
in the servers (BIND, Unbound, Postfix), how busy the machine was, and the speedup that this CPU
allows at most: the one-by-one time divided by (CPU per host x HOSTS / cores).

Usage: python benchmarks/check.py [--hosts 200] [--scale 5] [--workers 32] [--repeat 3]
                                  [--cli-sample 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.testbed import start_lab
from tests.testbed.postfix import start_postfix
from tlsagen.check import Report, Settings, Target, check
from tlsagen.core.material import Material, spki_of_certificate
from tlsagen.core.tlsa import DEFAULT_PARAMS, compute
from tlsagen.provider import Endpoint

SPEEDUP_TARGET = 3.0  # one by one / in parallel
GROWTH_SLACK = 1.1  # in parallel: N x SCALE hosts take at most SCALE x this x the time of N
TICKS = os.sysconf("SC_CLK_TCK")


def zone_lines(hosts: int, port: int, records: list[str]) -> str:
    lines = []
    for number in range(1, hosts + 1):
        lines.append(f"b{number} A 127.0.0.1")
        lines += [f"_{port}._tcp.b{number} TLSA {record}" for record in records]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Lab:
    """What the benchmark checks: the targets, the keywords of Settings that reach them, and the
    process ids of the servers (each with the processes it starts: Postfix's smtpd)."""

    targets: list[Target]
    base: dict[str, Any]
    servers: tuple[int, ...]


@contextmanager
def mail_hosts(directory: Path, hosts: int) -> Iterator[Lab]:
    """Postfix, and the DNS lab with hosts b1..bN whose records match its keys (every check must
    pass)."""
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
            servers = (mail.pid, lab.resolver.pid, lab.root.pid, *(s.pid for s in lab.bind.servers))
            yield Lab(targets, base, servers)


def warm_up(targets: list[Target], base: dict[str, Any], workers: int) -> None:
    """One parallel check of `workers` hosts before anything is timed, so that every timed run
    finds the servers as a running system has them: Postfix with its smtpd processes started
    (up to one per connection at a time), Unbound holding the zone's keys."""
    check(targets[:workers], Settings(**base, workers=workers))


def cpu_seconds(roots: tuple[int, ...]) -> float:
    """CPU time (user + system) of the processes `roots` and of their descendants, those alive
    and those that ended (Postfix's master ends an smtpd after 100 connections)."""
    parents, used = {}, {}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[pid] = int(fields[1])
        used[pid] = sum(int(ticks) for ticks in fields[11:15])  # its own and its reaped children's
    total, seen, pending = 0, set(), list(roots)
    while pending:
        pid = pending.pop()
        if pid in seen or pid not in used:
            continue
        seen.add(pid)
        total += used[pid]
        pending += [child for child, parent in parents.items() if parent == pid]
    return total / TICKS


def machine_busy() -> tuple[float, float]:
    """Seconds of CPU the whole machine spent busy, and in all, since it started."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS, sum(ticks) / TICKS


@dataclass(frozen=True)
class Timed:
    seconds: float
    client_cpu: float  # this process
    server_cpu: float  # the servers'
    busy: float  # the share of the machine's CPU time spent busy (by anyone)
    reports: list[Report]


def timed(run: Callable[[], list[Report]], servers: tuple[int, ...]) -> Timed:
    before = os.times(), cpu_seconds(servers), machine_busy()
    started = time.perf_counter()
    reports = run()
    seconds = time.perf_counter() - started
    after = os.times(), cpu_seconds(servers), machine_busy()
    client = sum(after[0][:2]) - sum(before[0][:2])
    busy = (after[2][0] - before[2][0]) / max(after[2][1] - before[2][1], 1e-9)
    return Timed(seconds, client, after[1] - before[1], busy, reports)


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


def spread(values: list[float], unit: str = "") -> str:
    """The median of `values`, and their range when there are several."""
    median = f"{statistics.median(values):.2f}{unit}"
    if len(values) < 2:
        return median
    return f"{median} (from {min(values):.2f} to {max(values):.2f}{unit})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--scale", type=int, default=5)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cli-sample", type=int, default=5)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    runs: dict[str, list[Timed]] = {"parallel": [], "one worker": [], "per call": [], "scaled": []}
    with (
        tempfile.TemporaryDirectory(prefix="tlsagen-bench-") as tmp,
        mail_hosts(Path(tmp), args.hosts * args.scale) as lab,
    ):
        everything, base = lab.targets, lab.base
        targets = everything[: args.hosts]
        warm_up(everything[-args.workers :], base, args.workers)
        parallel, single = Settings(**base, workers=args.workers), Settings(**base, workers=1)
        steps: dict[str, Callable[[], list[Report]]] = {
            "parallel": lambda: [check(targets, parallel)],
            "one worker": lambda: [check(targets, single)],
            "per call": lambda: [check([target], single) for target in targets],
            "scaled": lambda: [check(everything, parallel)],
        }
        for _ in range(args.repeat):
            for name, step in steps.items():
                runs[name].append(timed(step, lab.servers))
        command, codes = per_command(targets[: args.cli_sample], base)
    reports = [report for each in runs.values() for run in each for report in run.reports]
    failed: list[object] = [r for r in reports if r.error(strict=False) is not None]
    failed += [code for code in codes if code != 0]
    first = runs["parallel"][0].reports[0]
    handshakes = sum(len(c.live) for t in first.targets for h in t.hosts for c in h.probes)

    def seconds(name: str) -> list[float]:
        return [run.seconds for run in runs[name]]

    def ratios(name: str) -> list[float]:
        return [a / b for a, b in zip(seconds(name), seconds("parallel"), strict=True)]

    def per_host(values: list[float]) -> str:
        return spread([1000 * value / args.hosts for value in values], " ms")

    speedup, growth = statistics.median(ratios("one worker")), statistics.median(ratios("scaled"))
    client = [run.client_cpu for run in runs["parallel"]]
    servers = [run.server_cpu for run in runs["parallel"]]
    # the most concurrency can give: the one-by-one time over the parallel run's CPU on all cores
    bound = [
        one.seconds / ((par.client_cpu + par.server_cpu) / cores)
        for one, par in zip(runs["one worker"], runs["parallel"], strict=True)
    ]
    print(f"hosts: {args.hosts} (STARTTLS handshakes: {handshakes}), cpus: {cores}, ", end="")
    print(f"repetitions: {args.repeat} (medians, and their range)")
    print(f"parallel ({args.workers} workers):      {spread(seconds('parallel'), ' s')}")
    print(f"one by one, one call:         {spread(seconds('one worker'), ' s')}")
    print(f"  = {spread(ratios('one worker'), 'x')} the parallel time")
    print(f"one by one, one call a host:  {spread(seconds('per call'), ' s')}")
    print(f"  = {spread(ratios('per call'), 'x')} the parallel time (a figure)")
    print(f"{len(everything)} hosts in parallel:   {spread(seconds('scaled'), ' s')}")
    print(f"  = {spread(ratios('scaled'), 'x')} the time of {args.hosts} ({args.scale}x the hosts)")
    if codes:
        print(
            f"one command per host:         {command * args.hosts:.2f} s "
            f"({command * args.hosts / statistics.median(seconds('parallel')):.1f}x; "
            f"{command * 1000:.0f} ms per command, {len(codes)} timed)"
        )
    print(f"CPU per host in parallel: client {per_host(client)}, servers {per_host(servers)}")
    busy = [run.busy for name in ("parallel", "one worker") for run in runs[name]]
    print(f"machine busy (anyone) during the parallel and one-by-one runs: {spread(busy)}")
    print(f"the most concurrency can give on {cores} cores with that CPU: {spread(bound, 'x')}")
    if statistics.median(bound) < SPEEDUP_TARGET:
        print(
            f"note: {SPEEDUP_TARGET:.0f}x is out of reach here: one by one, a host takes little "
            "more time than the CPU it needs, and in parallel that CPU is shared by the cores "
            "(docs/check.md, Performance)"
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
