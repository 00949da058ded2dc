"""Publish 1,000 owners (500 hosts x ports 25 and 443) into one real BIND zone, then plan again.

Prints wall times (publish with and without its propagation wait, the no-change plan), the DNS
messages sent by kind (counted at the socket level), and, in the same run, `nsupdate` sending the
same records (for other owners) in one script, and in two halves, each once every server serves
the previous one; the ratios against those.
Targets (issue 14): publish with its wait sends at most 30 DNS messages; publish without the wait
takes at most 4x the nsupdate script; with the wait, at most 2.5x the nsupdate halves. The script
sends its UPDATEs back to back, and BIND 9.18 signing inline leaves most of them out of the
signed zone (docs/providers/rfc2136.md): a baseline that publishes less than tlsagen does.
Run from the repository root: python benchmarks/rfc2136_publish.py   (needs bind9 installed)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.measure import DnsMessages, timed
from tests.testbed import start_lab
from tlsagen import config, engine, plans
from tlsagen.core.records import Owner
from tlsagen.net import dns, propagation
from tlsagen.provider import Endpoint

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


def nsupdate(lab: Any, plan: plans.Plan, label: str) -> tuple[float, int]:
    """Send the plan's records for other owners (`_tcp.LABEL...` for `_tcp.b...`) with one
    nsupdate script: its wall time, and how many UPDATEs it sent. nsupdate's own message buffer
    is much smaller than 64 KiB, so it sends every 50 owners."""
    script = [f"server {lab.bind.primary.host} {lab.bind.primary.port}", f"zone {lab.bind.name}"]
    for index, item in enumerate(plan.owners, 1):
        name = renamed(item.owner, label).name
        script += [f"update add {name} 300 TLSA {r.to_text()}" for r in item.desired.records]
        if index % 50 == 0 or index == len(plan.owners):
            script.append("send")
    seconds, run = timed(
        lambda: subprocess.run(
            ["nsupdate", "-v", "-k", str(lab.bind.key.key_file)],
            input="\n".join(script) + "\n",
            text=True,
            capture_output=True,
        )
    )
    assert run.returncode == 0, run.stderr + run.stdout
    return seconds, script.count("send")


def renamed(owner: Owner, label: str) -> Owner:
    return Owner(owner.name.replace("._tcp.b", f"._tcp.{label}", 1))


def served_by(servers: list[Endpoint], owner: Owner, timeout: float) -> bool:
    """Poll `servers` for `owner` (what a script would do with dig) until all serve it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(dns.tlsa_at(server, owner) is not None for server in servers):
            return True
        time.sleep(0.02)
    return False


def halves_after_served(lab: Any, plan: plans.Plan) -> tuple[float, bool]:
    """One nsupdate sending the plan's records (for other owners) in two halves, each once every
    server serves the previous one; within a half, each UPDATE once the primary serves the one
    before (BIND signing inline leaves an UPDATE sent while it signs the previous one out of the
    signed zone). The wall time, and whether every server served everything."""
    primary = [Endpoint(lab.bind.primary.host, lab.bind.primary.port)]
    everyone = [Endpoint(s.host, s.port) for s in lab.bind.servers]
    half = len(plan.owners) // 2
    started = time.perf_counter()
    served = True
    process = subprocess.Popen(
        ["nsupdate", "-v", "-k", str(lab.bind.key.key_file)], stdin=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    process.stdin.write(f"server {lab.bind.primary.host} {lab.bind.primary.port}\n")
    process.stdin.write(f"zone {lab.bind.name}\n")
    for part, label in ((plan.owners[:half], "h"), (plan.owners[half:], "i")):
        for index, item in enumerate(part, 1):
            name = renamed(item.owner, label)
            for r in item.desired.records:
                process.stdin.write(f"update add {name.name} 300 TLSA {r.to_text()}\n")
            if index % 50 == 0 or index == len(part):
                process.stdin.write("send\n")
                process.stdin.flush()
                last = index == len(part)
                if not served_by(everyone if last else primary, name, 20):
                    print(f"not served after 20 s: {name}", flush=True)
                    served = False
    process.stdin.close()
    process.wait()
    return time.perf_counter() - started, served


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
        before = Counter(sent)
        wait_s, reports = timed(lambda: propagation.wait_for_servers(plan, providers, timeout=120))
        wait_msgs = Counter(sent) - before
        assert all(not r.missing for r in reports), "a server does not serve every owner"
        before = Counter(sent)
        replan_s, replan = timed(lambda: engine.make_plan(loaded, providers, now))
        replan_msgs = Counter(sent) - before
        assert not replan.pending, replan.pending[0]

        halves_s, halves_served = halves_after_served(lab, plan)
        nsupdate_s, sends = nsupdate(lab, plan, "n")
        owners = len(plan.owners)
        records = sum(len(o.desired.records) for o in plan.owners)
        publish_msgs = sum(apply_msgs.values()) + sum(wait_msgs.values())
        print(f"owners: {owners}, records: {records}, servers: {len(reports)}")
        print(f"first plan (read of {owners} owners): {plan_s:.3f} s")
        print(f"publish without wait: {apply_s:.3f} s, messages: {dict(apply_msgs)}")
        print(f"propagation wait: {wait_s:.3f} s, messages: {dict(wait_msgs)}")
        print(
            f"publish with wait: {apply_s + wait_s:.3f} s, {publish_msgs} messages in all "
            "(target <= 30)"
        )
        print(f"no-change plan: {replan_s:.3f} s, messages: {dict(replan_msgs)}")
        print(f"nsupdate script, same records in {sends} UPDATEs: {nsupdate_s:.3f} s")
        print(
            f"nsupdate in two halves, each after every server serves the previous "
            "(each UPDATE after the primary serves the one before): "
            f"{halves_s:.3f} s (served: {halves_served})"
        )
        print(f"ratio publish without wait / nsupdate: {apply_s / nsupdate_s:.1f}x (target <= 4x)")
        print(
            f"ratio publish with wait / nsupdate in halves: {(apply_s + wait_s) / halves_s:.2f}x "
            "(target <= 2.5x)"
        )


if __name__ == "__main__":
    main()
