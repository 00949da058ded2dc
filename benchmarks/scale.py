"""10,000 TLSA owners across 50 zones through each provider: the first publish, a plan with
nothing to change, and a rollover step that changes every owner (a next key for every service).

Providers: RFC 2136 on a BIND of its own (the zones signed inline with a CSK and NSEC, like real
DANE zones; a TSIG key allowed to update TLSA), with `dig AXFR` of the same zones, one after
another, timed after the no-change plan as its anchor, Route 53 on moto_server (one hosted zone
each), and a directory of zone files. Each step runs as a tlsagen run would (fresh providers;
publish = engine.make_plan + apply + propagation.wait_for_servers) and prints its wall time, the
peak RSS during the step (not since the start) and what it sent: DNS messages by kind (counted at
the socket level) or Route 53 calls by operation (botocore hook). tracemalloc slows Python down
several times, so the peak of Python's memory is measured after, on a no-change plan and on a
rollover step to another next key (which changes every owner again).
Targets: the no-change plan under 10 s, peak memory under 200 MiB, messages and calls that grow
with zones and batches, not with owners.

Usage: python benchmarks/scale.py [--owners 10000[,50000]] [--zones 50] [--providers rfc2136,...]
                                  [--quick]   (only the first publish and the no-change plan)
With several sizes, the no-change plan's time at each is compared to the first size's.
Needs bind9 and moto[server]; servers run on loopback and stop at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import MIB, DnsMessages, Step, measured
from tests.testbed.bind import make_tsig_key, start_zones_primary
from tests.testbed.lab import child_zone_text
from tests.testbed.model import TsigKey
from tests.testbed.moto import start_moto
from tests.testbed.ports import free_port
from tlsagen import config, engine
from tlsagen.net import propagation
from tlsagen.provider import Provider
from tlsagen.rollover import keys

ROOT = Path(__file__).resolve().parents[1]
CERT = ROOT / "docs/examples/mx.example.com/fullchain.pem"
NEXT_KEY = ROOT / "docs/examples/next.key"
PORTS = (25, 465)
TARGET_PLAN_SECONDS = 10.0
TARGET_PEAK = 200 * MIB
TARGET_AXFR_RATIO = 1.5  # rfc2136: no-change plan / dig AXFR of the same zones, first size
TARGET_LINEAR = 5.2  # no-change plan at 5x the owners / at the first size


class Bench:
    """The zones, the hosts in them, and tlsagen.toml for one provider table."""

    def __init__(self, directory: Path, owners: int, zones: int) -> None:
        self.dir = directory
        self.zones = [f"z{number}.bench." for number in range(zones)]
        hosts = owners // (zones * len(PORTS))
        self.hosts = {zone: [f"h{i}.{zone}" for i in range(hosts)] for zone in self.zones}
        self.anchor: Callable[[], float] | None = None  # seconds a baseline takes for a plan
        self.ratio: float | None = None  # the no-change plan's time over the anchor's
        self.quick = False  # only the first publish and the no-change plan

    def config(self, provider: str, next_key: Path | None) -> config.Config:
        text = f"[defaults]\nttl = 300\nstate = '{self.dir / 'state.json'}'\n\n{provider}\n"
        for number, zone in enumerate(self.zones):
            hosts = ", ".join(f"'{host}'" for host in self.hosts[zone])
            text += (
                f"\n[[services]]\nname = 's{number}'\nhosts = [{hosts}]\nports = {list(PORTS)}\n"
                f"cert = '{CERT}'\n" + (f"next-key = '{next_key}'\n" if next_key else "")
            )
        path = self.dir / f"{next_key.stem if next_key else 'tlsagen'}.toml"
        path.write_text(text)
        return config.load(path)


Counting = Callable[[dict[str, Provider]], None]  # hooks a step's providers to the counter


def steps(
    bench: Bench, table: str, sent: Counter[str], count: Counting = lambda providers: None
) -> list[Step]:
    """The three steps untraced (wall time, maximum RSS), then with tracemalloc (peak Python
    memory): the no-change plan again, and a rollover step to another next key (every owner
    again; not back to the first state, which moto would refuse: it takes a CREATE that a
    journal entry repeats for one over an existing RRset, though the batch deletes that first)."""
    now = datetime.now(UTC)

    def providers_for(loaded: config.Config) -> dict[str, Provider]:
        opened = engine.open_providers(loaded, (s.provider for s in loaded.services))
        count(opened)
        return opened

    def publish(loaded: config.Config) -> None:
        providers = providers_for(loaded)
        plan = engine.make_plan(loaded, providers, now)
        assert plan.pending, "nothing to publish"
        engine.apply(plan, providers)
        reports = propagation.wait_for_servers(plan, providers, timeout=600)
        assert all(not report.missing for report in reports), "a server lacks records"

    def plan_nothing(loaded: config.Config) -> None:
        plan = engine.make_plan(loaded, providers_for(loaded), now)
        assert not plan.pending, plan.pending[0]

    other = bench.dir / "other.key"
    keys.write_new_key(other, keys.key_type("p256"))
    first, rolled, again = (bench.config(table, key) for key in (None, NEXT_KEY, other))
    found = []
    runs = (
        ("first publish", publish, first, False),
        ("no-change plan", plan_nothing, first, False),
        ("rollover step (every owner)", publish, rolled, False),
        ("no-change plan, traced", plan_nothing, rolled, True),
        ("rollover step to another key (every owner), traced", publish, again, True),
    )
    for name, action, loaded, traced in runs[:2] if bench.quick else runs:
        if traced:
            tracemalloc.start()
        with measured(name, sent) as step:
            action(loaded)
        tracemalloc.stop()
        found.append(step)
        print("  " + step.line(), flush=True)
        if name == "no-change plan" and bench.anchor is not None:
            anchor = bench.anchor()
            bench.ratio = step.seconds / anchor
            print(
                f"  dig AXFR of the {len(bench.zones)} zones: {anchor:.2f} s; ratio no-change "
                f"plan / dig AXFR: {bench.ratio:.2f}x (target <= {TARGET_AXFR_RATIO}x)",
                flush=True,
            )
    return found


def dig_axfr(bench: Bench, port: int, key: TsigKey) -> float:
    """Seconds for `dig AXFR` of every zone, one after the other (the anchor of a plan)."""
    started = time.perf_counter()
    for zone in bench.zones:
        run = subprocess.run(
            ["dig", "-k", str(key.key_file), "-p", str(port), "@127.0.0.1", zone, "AXFR"],
            capture_output=True,
            check=True,
        )
        assert b"Transfer failed" not in run.stdout, run.stdout
    return time.perf_counter() - started


@contextmanager
def rfc2136(bench: Bench) -> Iterator[tuple[str, Counter[str], Counting]]:
    key = make_tsig_key("bench-key.", bench.dir)
    port = free_port()
    zones = {zone: child_zone_text(zone) for zone in bench.zones}
    with start_zones_primary(bench.dir / "named", port, zones, key, signed=True):
        messages = DnsMessages()
        messages.install()
        address = f"127.0.0.1:{port}"
        bench.anchor = lambda: dig_axfr(bench, port, key)
        yield (
            f"[providers.dns]\ntype = 'rfc2136'\nserver = '{address}'\n"
            f"key-file = '{key.key_file}'\nnameservers = ['{address}']",
            messages.sent,
            lambda providers: None,
        )


@contextmanager
def route53(bench: Bench) -> Iterator[tuple[str, Counter[str], Counting]]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with start_moto(bench.dir) as url:
        admin = boto3.client("route53", endpoint_url=url)
        for zone in bench.zones:
            admin.create_hosted_zone(Name=zone, CallerReference=zone)
        calls: Counter[str] = Counter()

        def count(providers: dict[str, Provider]) -> None:
            def record(model: Any, **kwargs: Any) -> None:
                calls[model.name] += 1

            client = providers["aws"]._client  # type: ignore[attr-defined]
            client.meta.events.register("provide-client-params.route53", record)

        yield f"[providers.aws]\ntype = 'route53'\nendpoint-url = '{url}'", calls, count


@contextmanager
def zonefile(bench: Bench) -> Iterator[tuple[str, Counter[str], Counting]]:
    directory = bench.dir / "zones"
    directory.mkdir()
    for zone in bench.zones:
        (directory / f"{zone}zone").write_text(child_zone_text(zone))
    yield f"[providers.files]\ntype = 'zonefile'\npath = '{directory}'", Counter(), lambda p: None


PROVIDERS = {"rfc2136": rfc2136, "route53": route53, "zonefile": zonefile}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", default="10000", help="sizes, comma-separated: 10000,50000")
    parser.add_argument("--zones", type=int, default=50)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--quick", action="store_true", help="only publish and no-change plan")
    args = parser.parse_args()
    logging.getLogger("tlsagen").setLevel(logging.ERROR)  # one warning per unsigned moto zone
    missed = []
    for name in args.providers.split(","):
        plans: dict[int, float] = {}
        for size in map(int, args.owners.split(",")):
            with tempfile.TemporaryDirectory(prefix="tlsagen-scale-") as tmp, ExitStack() as stack:
                bench = Bench(Path(tmp), size, args.zones)
                bench.quick = args.quick
                owners = sum(map(len, bench.hosts.values())) * len(PORTS)
                print(f"{name}: {owners} owners in {args.zones} zones", flush=True)
                table, sent, count = stack.enter_context(PROVIDERS[name](bench))
                found = steps(bench, table, sent, count)
            if found[1].seconds >= TARGET_PLAN_SECONDS:
                missed.append(f"{name}: no-change plan took {found[1].seconds:.1f} s")
            if bench.ratio is not None and not plans and bench.ratio > TARGET_AXFR_RATIO:
                missed.append(f"{name}: no-change plan {bench.ratio:.2f}x dig AXFR")
            plans[owners] = found[1].seconds
            peak = max(step.traced_peak for step in found)
            if peak >= TARGET_PEAK:
                missed.append(f"{name}: peak traced memory {peak / MIB:.0f} MiB")
        smallest = min(plans)
        for owners, seconds in sorted(plans.items())[1:]:
            ratio = seconds / plans[smallest]
            print(
                f"{name}: no-change plan at {owners} owners / at {smallest}: {ratio:.2f}x "
                f"({owners / smallest:g}x the owners; target <= {TARGET_LINEAR}x at 5x)"
            )
            if owners == 5 * smallest and ratio > TARGET_LINEAR:
                missed.append(f"{name}: no-change plan {ratio:.2f}x at 5x the owners")
    print(f"targets: no-change plan < {TARGET_PLAN_SECONDS:.0f} s, peak < {TARGET_PEAK // MIB} MiB")
    print("TARGETS MISSED: " + "; ".join(missed) if missed else "targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
