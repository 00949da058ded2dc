"""Route 53 providers on the testbed's moto_server (fixture `moto`), and counting API calls."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tlsagen.provider import ProviderSettings
from tlsagen_route53.aws import MAX_ATTEMPTS, make_client
from tlsagen_route53.provider import Route53Provider
from tlsagen_route53.settings import Settings

WHERE = "tlsagen.toml [providers.aws]"


def parse(**options: Any) -> Settings:
    """Settings from keyword options (zone_id= for zone-id); None leaves an option out."""
    table = {key.replace("_", "-"): value for key, value in options.items() if value is not None}
    return Settings.parse(ProviderSettings("aws", table, WHERE, Path(".")))


@pytest.fixture
def admin(moto: str) -> Any:
    """A plain boto3 client on moto, for setting up zones and writing behind tlsagen's back."""
    return boto3.client("route53", endpoint_url=moto)


@pytest.fixture
def create_zone(admin: Any) -> Callable[..., str]:
    """Create a hosted zone; returns its id."""

    def create(name: str, private: bool = False) -> str:
        extra: dict[str, Any] = {}
        if private:
            extra = {
                "VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-12345678"},
                "HostedZoneConfig": {"PrivateZone": True, "Comment": "test"},
            }
        zone = admin.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex, **extra)
        return str(zone["HostedZone"]["Id"].rsplit("/", 1)[-1])

    return create


class Calls:
    """Every Route 53 API call a client makes (not its retries): operation name and parameters."""

    def __init__(self, client: Any) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.route53", self._record)

    def _record(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.made.append((model.name, dict(params)))

    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.made)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.made if name == operation]


Make = Callable[..., tuple[Route53Provider, Calls]]


@pytest.fixture
def route53(moto: str) -> Make:
    """A provider on moto (options as in tlsagen.toml) and the record of its API calls."""

    def make(max_attempts: int = MAX_ATTEMPTS, **options: Any) -> tuple[Route53Provider, Calls]:
        settings = parse(**{"endpoint_url": moto, **options})
        client = make_client(settings, max_attempts)
        return Route53Provider(client, settings, poll_interval=0), Calls(client)

    return make


class Stubbed:
    """A provider whose client answers from a botocore Stubber (zone-id Z1 = example.com.)."""

    def __init__(self, **options: Any) -> None:
        settings = parse(**{"endpoint_url": "http://127.0.0.1:9", "zone_id": "Z1", **options})
        client = make_client(settings)
        self.provider = Route53Provider(client, settings, poll_interval=0)
        self.stub = Stubber(client)
        self.stub.activate()

    def zone(self) -> None:
        zone = {"Id": "/hostedzone/Z1", "Name": "example.com.", "CallerReference": "t"}
        self.stub.add_response(
            "get_hosted_zone",
            {"HostedZone": {**zone, "Config": {"PrivateZone": False}, "ResourceRecordSetCount": 9}},
            {"Id": "Z1"},
        )

    def holds(self, owner: str, *values: str, ttl: int = 300) -> None:
        """Answer a per-owner read: `values` at `owner`, or (none given) a later name."""
        record_set = {"Name": owner, "Type": "TLSA", "TTL": ttl}
        record_set["ResourceRecords"] = [{"Value": value} for value in values]
        if not values:
            record_set = {"Name": "zz.example.com.", "Type": "A", "TTL": 60}
            record_set["ResourceRecords"] = [{"Value": "192.0.2.1"}]
        self.stub.add_response(
            "list_resource_record_sets",
            {"ResourceRecordSets": [record_set], "IsTruncated": False, "MaxItems": "1"},
            {
                "HostedZoneId": "Z1",
                "StartRecordName": owner,
                "StartRecordType": "TLSA",
                "MaxItems": "1",
            },
        )

    def change(self, status: str = "INSYNC") -> None:
        info = {"Id": "/change/C1", "Status": status, "SubmittedAt": datetime.now(UTC)}
        self.stub.add_response("change_resource_record_sets", {"ChangeInfo": info})

    def get_change(self, status: str) -> None:
        info = {"Id": "/change/C1", "Status": status, "SubmittedAt": datetime.now(UTC)}
        self.stub.add_response("get_change", {"ChangeInfo": info}, {"Id": "/change/C1"})

    def error(self, method: str, code: str, message: str) -> None:
        self.stub.add_client_error(method, code, message, http_status_code=400)


@pytest.fixture
def stubbed(aws_env: str) -> Iterator[Callable[..., Stubbed]]:
    made: list[Stubbed] = []

    def make(**options: Any) -> Stubbed:
        made.append(Stubbed(**options))
        return made[-1]

    yield make
    for stubbed in made:
        stubbed.stub.assert_no_pending_responses()


@pytest.fixture
def tlsagen_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    """caplog fed straight from the "tlsagen" logger at INFO, whatever an earlier in-process CLI
    run did to that logger's propagation."""
    logger = logging.getLogger("tlsagen")
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    with caplog.at_level(logging.INFO, logger="tlsagen"):
        yield caplog
    logger.removeHandler(caplog.handler)
