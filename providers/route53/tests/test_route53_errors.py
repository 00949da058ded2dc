"""What moto cannot produce: AWS error answers (botocore Stubber), retries, missing credentials.

The Stubber answers before botocore's retry logic runs, so retries are tested with a hook that
fakes the HTTP answer of the first attempts and lets later ones reach moto_server.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import botocore.endpoint
import botocore.retries.bucket
import pytest
from botocore.awsrequest import AWSResponse

from tlsagen.core.records import Change, ChangeSet, Owner, RRset, rrset
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.testing import record
from tlsagen_route53.aws import IAM_ACTIONS, NO_CREDENTIALS

OWNER = Owner.for_service("mx.example.com", 25)
OLD = rrset(OWNER, 300, [record("old")])
NEW = rrset(OWNER, 300, [record("new")])
MOVED = rrset(OWNER, 300, [record("old"), record("intruder")])


def values(rrset: RRset) -> list[str]:
    return rrset.texts()


def replace(stubbed: Any) -> None:
    stubbed.provider.apply(ChangeSet("example.com.", (Change(OWNER, OLD, NEW),)))


def test_stale_delete_rejected_and_dns_moved_is_a_conflict(stubbed: Any) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(OLD))
    aws.error(
        "change_resource_record_sets",
        "InvalidChangeBatch",
        f"[Tried to delete resource record set [name='{OWNER.name}', type='TLSA'] but the values "
        "provided do not match the current values]",
    )
    aws.holds(OWNER.name, *values(MOVED))
    with pytest.raises(ConflictError, match="changed in Route 53 since it was read"):
        replace(aws)


def test_rejected_but_already_done_is_success(stubbed: Any) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(OLD))
    aws.error("change_resource_record_sets", "InvalidChangeBatch", "[it already exists]")
    aws.holds(OWNER.name, *values(NEW))
    replace(aws)


def test_rejected_while_dns_still_holds_before_reports_aws_message(stubbed: Any) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(OLD))
    aws.error("change_resource_record_sets", "InvalidChangeBatch", "[TLSA value is malformed]")
    aws.holds(OWNER.name, *values(OLD))
    with pytest.raises(ProviderError, match=r"rejected the change batch .*TLSA value is malformed"):
        replace(aws)


def test_stale_before_is_caught_before_sending(stubbed: Any) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(MOVED))
    with pytest.raises(ConflictError):
        replace(aws)  # no change_resource_record_sets was queued: the Stubber would complain


def test_protected_record_set_is_named(stubbed: Any) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(OLD))
    aws.error(
        "change_resource_record_sets",
        "InvalidChangeBatch",
        f"[RRSet {OWNER.name} TLSA is protected by a resource record set protection]",
    )
    with pytest.raises(ProviderError, match=r"is protected .* remove its resource record set"):
        replace(aws)


def test_pending_then_insync(stubbed: Any, tlsagen_log: pytest.LogCaptureFixture) -> None:
    aws = stubbed()
    aws.zone()
    aws.holds(OWNER.name, *values(OLD))
    aws.change("PENDING")
    aws.get_change("PENDING")
    aws.get_change("INSYNC")
    replace(aws)
    assert tlsagen_log.text.count("waiting for Route 53 change /change/C1") == 2


def test_pending_past_the_timeout(stubbed: Any) -> None:
    aws = stubbed(timeout=0.05)
    aws.zone()
    aws.holds(OWNER.name)
    aws.change("PENDING")
    aws.get_change("PENDING")  # the one poll: its sleep is cut to the time left, then none is
    aws.provider._poll_interval = 10
    with pytest.raises(ProviderError, match=r"still PENDING after 0\.05 s; it was accepted"):
        aws.provider.apply(ChangeSet("example.com.", (Change(OWNER, None, NEW),)))


def test_access_denied_names_the_iam_actions(stubbed: Any, aws_env: str) -> None:
    aws = stubbed(zone_id=None)
    aws.error("list_hosted_zones_by_name", "AccessDenied", "User: arn:aws:iam::1:user/u is not")
    with pytest.raises(ProviderError) as error:
        aws.provider.zones([OWNER])
    assert all(action in str(error.value) for action in IAM_ACTIONS)
    assert aws_env not in str(error.value)


def test_get_dnssec_denied_is_a_warning(
    stubbed: Any, tlsagen_log: pytest.LogCaptureFixture
) -> None:
    aws = stubbed()
    aws.zone()
    aws.error("get_dnssec", "AccessDenied", "not authorized")
    aws.holds(OWNER.name, *values(OLD))
    assert aws.provider.read("example.com.", [OWNER]) == {OWNER: OLD}
    assert "route53:GetDNSSEC is not allowed" in tlsagen_log.text


def test_zone_listing_is_paginated(stubbed: Any) -> None:
    aws = stubbed(zone_id=None)
    first = {"Id": "/hostedzone/Z0", "Name": "example.aaa.", "CallerReference": "a"}
    second = {"Id": "/hostedzone/Z1", "Name": "example.com.", "CallerReference": "b"}
    page = {"IsTruncated": True, "NextDNSName": "example.com.", "NextHostedZoneId": "Z1"}
    aws.stub.add_response(
        "list_hosted_zones_by_name", {"HostedZones": [first], **page, "MaxItems": "1"}, {}
    )
    aws.stub.add_response(
        "list_hosted_zones_by_name",
        {"HostedZones": [second], "IsTruncated": False, "MaxItems": "1"},
        {"DNSName": "example.com.", "HostedZoneId": "Z1"},
    )
    assert aws.provider.zones([OWNER]) == {OWNER: "example.com."}


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoffs botocore makes between attempts, recorded instead of slept (and the waits of
    the adaptive mode's client-side rate limiter skipped)."""
    waits: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", waits.append)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "_sleep_amount", lambda *_: 0.0)
    return waits


def throttle(provider: Any, code: str, times: int) -> list[str]:
    """Answer the first `times` HTTP attempts with a 400 `code`; returns every attempt's URL."""
    attempts: list[str] = []
    body = (
        '<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error>"
        "<RequestId>r1</RequestId></ErrorResponse>"
    ).encode()

    class Raw:
        def stream(self, **kwargs: Any) -> Iterator[bytes]:
            yield body

    def fake(request: Any, **kwargs: Any) -> AWSResponse | None:
        attempts.append(request.url)
        return AWSResponse(request.url, 400, {}, Raw()) if len(attempts) <= times else None

    provider._client.meta.events.register("before-send.route53", fake)
    return attempts


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_busy_answers_are_retried(
    route53: Any, create_zone: Any, backoffs: list[float], code: str
) -> None:
    create_zone("example.com")
    provider, calls = route53()
    attempts = throttle(provider, code, times=2)
    assert provider.zones([OWNER]) == {OWNER: "example.com."}
    assert len(attempts) == 3
    assert len(backoffs) == 2
    assert calls.count() == {"ListHostedZonesByName": 1}


def test_retries_are_bounded(route53: Any, backoffs: list[float]) -> None:
    provider, _ = route53(max_attempts=2)
    attempts = throttle(provider, "Throttling", times=99)
    with pytest.raises(ProviderError, match=r"still answered Throttling .* after retrying"):
        provider.zones([OWNER])
    assert len(attempts) == 3  # botocore's max_attempts counts retries, after the first attempt


def test_no_credentials(route53: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    provider, _ = route53()
    with pytest.raises(ProviderError) as error:
        provider.zones([OWNER])
    assert str(error.value) == NO_CREDENTIALS


def test_unreachable_endpoint_is_named(
    route53: Any, aws_env: str, backoffs: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    provider, _ = route53(max_attempts=1, endpoint_url=closed)
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as error:
        provider.zones([OWNER])
    assert f"cannot reach Route 53 at {closed}" in str(error.value)
    assert aws_env not in str(error.value) + caplog.text


def test_unknown_profile(route53: Any) -> None:
    with pytest.raises(InputError, match=r"AWS profile 'nope' is not in ~/\.aws/config"):
        route53(profile="nope")


def test_malformed_endpoint_url(route53: Any) -> None:
    with pytest.raises(InputError, match="endpoint-url: Invalid endpoint: http://"):
        route53(endpoint_url="http://")
