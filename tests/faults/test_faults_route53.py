"""`tlsagen publish` through the Route 53 provider while the API misbehaves at one step.

The API is the testbed's moto_server; a `before-send` hook on the client the CLI makes answers
the calls of one step itself (an AWS error, garbage, a timeout, a lost connection), or sends them
to moto first and spoils only the answer. Every case starts from two owners holding the old
RRset, plans to add the next key's record to both (one change batch), and checks the exit code,
its one-line message, that both owners hold the old or the new RRset (never one of each), that
the zone's other record sets survive, and that a re-run without the fault converges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

from tests.faults.common import (
    CERT,
    NEW,
    NEXT_KEY,
    OLD,
    Faults,
    case_id,
    held_state,
    long_run,
    record_of,
    run_cli,
)
from tlsagen import engine

pytest.importorskip("tlsagen_route53")  # a fault test of the CLI with this provider
import tlsagen_route53.aws

ZONE = "example.com."
HOSTS = ["mx1.example.com.", "mx2.example.com."]
OWNERS = [f"_25._tcp.{host}" for host in HOSTS]
BYSTANDERS = [
    {"Name": "_25._tcp.keep.example.com.", "Type": "TLSA", "TTL": 60},
    {"Name": "www.example.com.", "Type": "A", "TTL": 300},
]
BYSTANDER_VALUES = [record_of(CERT), "192.0.2.80"]

DISCOVER = "zone discovery"
READ = "read"
APPLY_READ = "apply: read first"
APPLY = "apply"
WAIT = "propagation wait (INSYNC)"


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Any:
        yield self.data


def error_answer(code: str, status: int) -> Callable[[AWSPreparedRequest], AWSResponse]:
    body = (
        '<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/'
        f'2013-04-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}'
        "</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
    ).encode()
    return lambda request: AWSResponse(request.url, status, {}, Body(body))


def garbage(request: AWSPreparedRequest) -> AWSResponse:
    return AWSResponse(request.url, 200, {}, Body(b"<ChangeInfo><Id>/change/C1</Oops"))


def bad_gateway(request: AWSPreparedRequest) -> AWSResponse:
    return AWSResponse(request.url, 502, {}, Body(b"<html><body>502 Bad Gateway</body></html>"))


def unreachable(request: AWSPreparedRequest) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=request.url)


def timeout(request: AWSPreparedRequest) -> AWSResponse:
    raise ReadTimeoutError(endpoint_url=request.url)


def slow(request: AWSPreparedRequest) -> None:
    threading.Event().wait(0.2)  # time.sleep is stubbed out for botocore's backoff


ERROR_CODES = {
    "Throttling": 400,
    "PriorRequestNotComplete": 400,
    "AccessDenied": 403,
    "InvalidClientTokenId": 403,
    "ExpiredToken": 403,
    "SignatureDoesNotMatch": 403,
    "NoSuchHostedZone": 404,
    "InvalidChangeBatch": 400,
    "InvalidInput": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}
FAULTS: dict[str, Callable[[AWSPreparedRequest], AWSResponse | None]] = {
    "endpoint unreachable": unreachable,
    "request times out": timeout,
    "slow answer (0.2 s)": slow,
    "garbage answer": garbage,
    "HTTP 502 with an HTML page": bad_gateway,
    **{f"error {code}": error_answer(code, status) for code, status in ERROR_CODES.items()},
}
# Spoiled once, after moto has acted on the request (so the batch is applied).
AFTER_APPLIED = {
    "answer lost after Route 53 applied it": timeout,
    "garbage answer after Route 53 applied it": garbage,
    "error InternalFailure after Route 53 applied it": error_answer("InternalFailure", 500),
}
OPERATIONS = {
    DISCOVER: "ListHostedZonesByName",
    READ: "ListResourceRecordSets",
    APPLY_READ: "ListResourceRecordSets",
    APPLY: "ChangeResourceRecordSets",
    WAIT: "GetChange",
}


@dataclass
class Injector:
    """The faults of one run, installed on every Route 53 client the CLI makes."""

    step: str | None = None
    fault: str | None = None
    applying: bool = False  # engine.apply is running
    changed: bool = False  # a ChangeResourceRecordSets went through

    def install(self, client: Any) -> None:
        client.meta.events.register("before-send.route53", self.before_send)
        client.meta.events.register("after-call.route53.ChangeResourceRecordSets", self.pending)

    def spoils(self, operation: str) -> bool:
        if self.step is None or OPERATIONS[self.step] != operation:
            return False
        if self.step in (READ, APPLY_READ):
            return self.applying == (self.step == APPLY_READ) and not self.changed
        return True

    def before_send(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.spoils(operation):
            return None
        assert self.fault is not None
        if self.fault in AFTER_APPLIED:
            self.step = None  # once: botocore's retry, and the re-read, reach moto
            URLLib3Session().send(request)
            return AFTER_APPLIED[self.fault](request)
        return FAULTS[self.fault](request)

    def pending(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        """Waiting for INSYNC is a step only when a change is still PENDING (moto: never)."""
        self.changed = True
        if self.step == WAIT and "ChangeInfo" in parsed:
            parsed["ChangeInfo"]["Status"] = "PENDING"


@pytest.fixture
def injector(monkeypatch: pytest.MonkeyPatch) -> Injector:
    """Faults on the CLI's Route 53 clients; botocore's backoff and the INSYNC polls not slept."""
    found = Injector()
    make_client = tlsagen_route53.aws.make_client

    def faulty_client(*args: Any, **kwargs: Any) -> Any:
        client = make_client(*args, **kwargs)
        found.install(client)
        return client

    real_apply = engine.apply

    def apply(*args: Any, **kwargs: Any) -> Any:
        found.applying = True
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(tlsagen_route53.aws, "make_client", faulty_client)
    monkeypatch.setattr(engine, "apply", apply)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *_: 0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "_sleep_amount", lambda *_: 0.0)
    return found


class Site:
    def __init__(self, moto: str, directory: Path) -> None:
        self.admin = boto3.client("route53", endpoint_url=moto)
        zone = self.admin.create_hosted_zone(Name=ZONE, CallerReference="faults")
        self.zone_id = zone["HostedZone"]["Id"]
        self.config = directory / "tlsagen.toml"
        self.config.write_text(
            f"[defaults]\nttl = 60\nstate = '{directory / 'state.json'}'\n\n"
            f"[providers.aws]\ntype = 'route53'\nendpoint-url = '{moto}'\ntimeout = 1\n\n"
            f"[[services]]\nname = 'mail'\nhosts = {HOSTS}\ncert = '{CERT}'\n"
            f"next-key = '{NEXT_KEY}'\n"
        )
        old = [{"Name": owner, "Type": "TLSA", "TTL": 60} for owner in OWNERS]
        values = [record_of(CERT)] * len(old) + BYSTANDER_VALUES
        self.write([*old, *BYSTANDERS], values)

    def write(self, record_sets: list[dict[str, Any]], values: list[str]) -> None:
        changes = [
            {"Action": "CREATE", "ResourceRecordSet": {**rs, "ResourceRecords": [{"Value": v}]}}
            for rs, v in zip(record_sets, values, strict=True)
        ]
        self.admin.change_resource_record_sets(
            HostedZoneId=self.zone_id, ChangeBatch={"Changes": changes}
        )

    def values(self) -> dict[tuple[str, str], frozenset[str]]:
        pages = self.admin.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=self.zone_id
        )
        return {
            (rs["Name"], rs["Type"]): frozenset(r["Value"] for r in rs["ResourceRecords"])
            for page in pages
            for rs in page["ResourceRecordSets"]
        }

    def held(self) -> str:
        found = self.values()
        return held_state([found.get((owner, "TLSA"), frozenset()) for owner in OWNERS])

    def bystanders_intact(self) -> bool:
        found = self.values()
        return all(
            found.get((rs["Name"], rs["Type"])) == {value}
            for rs, value in zip(BYSTANDERS, BYSTANDER_VALUES, strict=True)
        )


def case(step: str, fault: str, code: int, held: str, core: bool = False) -> Any:
    marks = () if core else long_run
    return pytest.param(step, fault, code, held, marks=marks, id=case_id(step, fault))


def every_fault(step: str, code: int, held: str, core: set[str]) -> list[Any]:
    """Each fault of FAULTS at `step`: `code` and `held`, but a slow answer succeeds."""
    return [
        case(step, fault, 0, NEW, fault in core)
        if fault == "slow answer (0.2 s)"
        else case(step, fault, code, held, fault in core)
        for fault in FAULTS
    ]


CASES = [
    *every_fault(DISCOVER, 4, OLD, core={"endpoint unreachable"}),
    *every_fault(READ, 4, OLD, core={"error Throttling", "garbage answer"}),
    *every_fault(APPLY_READ, 4, OLD, core={"request times out"}),
    *every_fault(APPLY, 4, OLD, core={"error AccessDenied", "error InvalidChangeBatch"}),
    *[case(APPLY, fault, 0, NEW, core=True) for fault in AFTER_APPLIED],
    *every_fault(WAIT, 4, NEW, core={"error Throttling"}),
]


@pytest.mark.parametrize(("step", "fault", "code", "held"), CASES)
def test_publish_through_a_faulty_api(
    step: str,
    fault: str,
    code: int,
    held: str,
    moto: str,
    injector: Injector,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    site = Site(moto, tmp_path)
    injector.step, injector.fault = step, fault
    run = run_cli(capsys, "publish", "--config", site.config)
    line = faults.expect("route53 (moto_server)", step, fault, run, code, held)
    assert line is None or step != WAIT or "was accepted all the same" in line
    assert site.held() == held
    assert site.bystanders_intact()
    injector.step = None
    rerun = run_cli(capsys, "publish", "--config", site.config)
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW and site.bystanders_intact()
