"""Publish 1,000 TLSA owners (2 records each) into one Route 53 zone on a local moto_server,
then read them back with nothing to change. Prints the API calls by kind and the wall time.

    python benchmarks/route53_publish.py [--owners N]

Needs tlsagen-route53 and moto[server] installed. Starts and stops its own moto_server on
127.0.0.1; dummy credentials only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository root, for tests.testbed

from tests.testbed.moto import start_moto
from tlsagen.core.records import ChangeSet, Owner, diff, rrset
from tlsagen.provider import ProviderSettings
from tlsagen.testing import record
from tlsagen_route53.aws import make_client
from tlsagen_route53.provider import Route53Provider
from tlsagen_route53.settings import Settings

ZONE = "bench.example."


def report(title: str, calls: Counter[str], seconds: float) -> None:
    kinds = ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
    print(f"{title}: {sum(calls.values())} API calls ({kinds}) in {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=1000)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    with tempfile.TemporaryDirectory() as tmp, start_moto(Path(tmp)) as url:
        boto3.client("route53", endpoint_url=url).create_hosted_zone(
            Name=ZONE, CallerReference="benchmark"
        )
        table = {"endpoint-url": url}
        settings = Settings.parse(ProviderSettings("bench", table, "benchmark", Path(".")))
        client = make_client(settings)
        calls: Counter[str] = Counter()

        def count(model: Any, **kwargs: Any) -> None:
            calls[model.name] += 1

        client.meta.events.register("provide-client-params.route53", count)
        provider = Route53Provider(client, settings)
        owners = [Owner.for_service(f"mx{n}.{ZONE}", 25) for n in range(args.owners)]
        desired = {o: rrset(o, 3600, [record(o.name), record(o.name + "next")]) for o in owners}

        start = time.perf_counter()
        zones = provider.zones(owners)
        assert set(zones.values()) == {ZONE}
        changes = diff(desired, provider.read(ZONE, owners))
        provider.apply(ChangeSet(ZONE, changes))
        report(f"publish {len(changes)} owners", calls, time.perf_counter() - start)

        calls.clear()
        start = time.perf_counter()
        left = diff(desired, provider.read(ZONE, owners))
        report(f"no-change read of {len(owners)} owners", calls, time.perf_counter() - start)
        assert not left, f"{len(left)} owners differ after publishing"


if __name__ == "__main__":
    main()
