"""Publish 1,000 owners (500 hosts x ports 25 and 443) into the live-signed zone of a real
pdns_server through its HTTP API, then plan again with nothing to change.

Prints wall times (plan, publish with and without its propagation wait, the no-change plan), the
HTTP requests sent by kind, and the anchor measured in the same run: one hand-written PATCH of
the same records for other owners, as a curl script would send it.
Run from the repository root: python providers/powerdns/benchmarks/publish.py
(needs pdns-server and pdns-backend-sqlite3 installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).parents[3]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import timed  # noqa: E402
from tests.testbed.powerdns import PowerDns, admin, start_powerdns  # noqa: E402
from tlsagen import config, engine  # noqa: E402
from tlsagen.net import propagation  # noqa: E402
from tlsagen_powerdns.api import Api  # noqa: E402

HOSTS = 500
PORTS = (25, 443)
EXAMPLE = ROOT / "docs/examples/mx.example.com/fullchain.pem"
KEY_ENV = "TLSAGEN_BENCH_PDNS_KEY"


def write_config(workdir: Path, lab: PowerDns, next_key: Path) -> Path:
    hosts = ", ".join(f'"b{i}.{lab.zone}"' for i in range(HOSTS))
    path = workdir / "tlsagen.toml"
    path.write_text(
        "[defaults]\nttl = 300\n"
        f"[providers.dns]\ntype = 'powerdns'\napi-url = '{lab.api_url}'\n"
        f"api-key = 'env:{KEY_ENV}'\nserver = '{lab.dns.address()}'\n"
        f"[[services]]\nname = 'bench'\nhosts = [{hosts}]\nports = {list(PORTS)}\n"
        f"cert = '{EXAMPLE}'\nnext-key = '{next_key}'\n"
    )
    return path


def count_requests(sent: Counter[str]) -> None:
    """Count every HTTP request the provider sends, by method and endpoint."""
    exchange = Api._exchange

    def counted(self: Api, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        sent[f"{method} {'/zones' if path == '/zones' else '/zones/ZONE'}"] += 1
        return exchange(self, method, path, body)

    Api._exchange = counted  # type: ignore[method-assign]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, start_powerdns(Path(tmp) / "pdns") as lab:
        workdir = Path(tmp)
        os.environ[KEY_ENV] = lab.api_key
        next_key = workdir / "next.key"
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ed25519", "-out", next_key], check=True
        )
        loaded = config.load(write_config(workdir, lab, next_key))
        providers = engine.open_providers(loaded, ["dns"])
        sent: Counter[str] = Counter()
        count_requests(sent)
        now = datetime.now(UTC)

        plan_s, plan = timed(lambda: engine.make_plan(loaded, providers, now))
        before = Counter(sent)
        apply_s, _ = timed(lambda: engine.apply(plan, providers))
        apply_requests = Counter(sent) - before
        wait_s, reports = timed(lambda: propagation.wait_for_servers(plan, providers, timeout=120))
        assert all(not r.missing for r in reports), "the server does not serve every owner"
        before = Counter(sent)
        replan_s, replan = timed(lambda: engine.make_plan(loaded, providers, now))
        replan_requests = Counter(sent) - before
        assert not replan.pending, replan.pending[0]

        # The anchor: the same records at other owners, in one PATCH written by hand.
        rrsets = [
            {
                "name": item.owner.name.replace("._tcp.b", "._tcp.n", 1),
                "type": "TLSA",
                "changetype": "REPLACE",
                "ttl": 300,
                "records": [{"content": t, "disabled": False} for t in item.desired.texts()],
            }
            for item in plan.owners
            if item.desired is not None
        ]
        raw_s, _ = timed(lambda: admin(lab, "PATCH", f"/zones/{lab.zone}", {"rrsets": rrsets}))
        owners = len(plan.owners)
        records = sum(len(r["records"]) for r in rrsets)
        print(f"owners: {owners}, records: {records}, servers: {len(reports)}")
        print(f"first plan (read of {owners} owners): {plan_s:.3f} s")
        print(f"publish without wait: {apply_s:.3f} s, HTTP requests: {dict(apply_requests)}")
        print(f"propagation wait (the server serves all owners): {wait_s:.3f} s")
        print(f"publish with wait: {apply_s + wait_s:.3f} s")
        print(f"no-change plan: {replan_s:.3f} s, HTTP requests: {dict(replan_requests)}")
        print(f"one hand-written PATCH of the same records: {raw_s:.3f} s")
        print(f"ratio publish (no wait) / one PATCH: {apply_s / raw_s:.1f}x")


if __name__ == "__main__":
    main()
