"""Publish 1,000 owners (500 hosts x ports 25 and 443) into one real BIND zone, then plan again.

Prints wall times (publish with and without its propagation wait, the no-change plan), the DNS
messages sent by kind, and an `nsupdate` script sending the same records in the same run.
Run from the repository root: python benchmarks/rfc2136_publish.py   (needs bind9 installed)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.measure import DnsMessages
from tests.testbed import start_lab
from tlsagen import config, engine

HOSTS = 500
PORTS = (25, 443)
EXAMPLE = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"


def write_config(workdir: Path, zone: Any, prefix: str, next_key: Path) -> Path:
    hosts = ", ".join(f'"{prefix}{i}.{zone.name}"' for i in range(HOSTS))
    nameservers = ", ".join(f'"{s.address()}"' for s in zone.servers)
    path = workdir / f"{prefix}.toml"
    path.write_text(
        "[defaults]\nttl = 300\n"
        f"[providers.dns]\ntype = 'rfc2136'\nserver = '{zone.primary.host}'\n"
        f"port = {zone.primary.port}\nkey-file = '{zone.key.key_file}'\n"
        f"nameservers = [{nameservers}]\n"
        f"[[services]]\nname = 'bench'\nhosts = [{hosts}]\nports = {list(PORTS)}\n"
        f"cert = '{EXAMPLE}'\nnext-key = '{next_key}'\n"
    )
    return path


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, start_lab(Path(tmp) / "lab") as lab:
        workdir = Path(tmp)
        next_key = workdir / "next.key"
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ed25519", "-out", next_key], check=True
        )
        loaded = config.load(write_config(workdir, lab.bind, "b", next_key))
        providers = engine.open_providers(loaded, ["dns"])
        messages = DnsMessages()
        messages.install()
        sent = messages.sent
        now = datetime.now(UTC)

        plan_s, plan = timed(lambda: engine.make_plan(loaded, providers, now))
        before = Counter(sent)
        apply_s, _ = timed(lambda: engine.apply(plan, providers))
        apply_msgs = Counter(sent) - before
        wait_s, reports = timed(lambda: engine.wait_for_servers(plan, providers, timeout=120))
        assert all(not r.missing for r in reports), "a server does not serve every owner"
        before = Counter(sent)
        replan_s, replan = timed(lambda: engine.make_plan(loaded, providers, now))
        replan_msgs = Counter(sent) - before
        assert not replan.pending, replan.pending[0]

        # The baseline: the same records for other owners, sent by one nsupdate script. nsupdate's
        # own message buffer is much smaller than 64 KiB, so it sends every 50 owners.
        script = [
            f"server {lab.bind.primary.host} {lab.bind.primary.port}",
            f"zone {lab.bind.name}",
        ]
        for index, item in enumerate(plan.owners, 1):
            name = item.owner.name.replace("._tcp.b", "._tcp.n", 1)
            script += [f"update add {name} 300 TLSA {r.to_text()}" for r in item.desired.records]
            if index % 50 == 0 or index == len(plan.owners):
                script.append("send")
        nsupdate_s, nsupdate_run = timed(
            lambda: subprocess.run(
                ["nsupdate", "-v", "-k", str(lab.bind.key.key_file)],
                input="\n".join(script) + "\n",
                text=True,
                capture_output=True,
            )
        )
        assert nsupdate_run.returncode == 0, nsupdate_run.stderr + nsupdate_run.stdout
        owners = len(plan.owners)
        records = sum(len(o.desired.records) for o in plan.owners)
        print(f"owners: {owners}, records: {records}, servers: {len(reports)}")
        print(f"first plan (read of {owners} owners): {plan_s:.3f} s")
        print(f"publish without wait: {apply_s:.3f} s, messages: {dict(apply_msgs)}")
        print(f"propagation wait (every server serves all owners): {wait_s:.3f} s")
        print(f"publish with wait: {apply_s + wait_s:.3f} s")
        print(f"no-change plan: {replan_s:.3f} s, messages: {dict(replan_msgs)} (target < 2 s)")
        sends = script.count("send")
        print(f"nsupdate script, same records in {sends} UPDATEs: {nsupdate_s:.3f} s")
        print(f"ratio publish (no wait) / nsupdate: {apply_s / nsupdate_s:.1f}x (target <= 10x)")


if __name__ == "__main__":
    main()
