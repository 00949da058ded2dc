"""Everything that touches boto3: the client, and AWS errors turned into one-line tlsagen errors.

No message built here quotes a credential: they name the operation, AWS's error code and message,
the endpoint, or how to provide credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError

from tlsagen.provider import InputError, ProviderError
from tlsagen_route53.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client

IAM_ACTIONS = (
    "route53:ListHostedZonesByName",
    "route53:GetHostedZone",
    "route53:ListResourceRecordSets",
    "route53:ChangeResourceRecordSets",
    "route53:GetChange",
    "route53:GetDNSSEC",
)
MAX_ATTEMPTS = 10  # retries of one request after Throttling, PriorRequestNotComplete, ...
_DENIED = ("AccessDenied", "AccessDeniedException")
_BUSY = ("Throttling", "ThrottlingException", "PriorRequestNotComplete")
_BAD_CREDENTIALS = ("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken")
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile "
    "from ~/.aws/config (profile = NAME in tlsagen.toml, or AWS_PROFILE), or run with an instance "
    "or task role"
)


def make_client(settings: Settings, max_attempts: int = MAX_ATTEMPTS) -> Route53Client:
    """A Route 53 client on boto3's usual credential chain, with bounded adaptive retries."""
    try:
        session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except ProfileNotFound:
        raise InputError(
            f"{settings.where} profile: AWS profile '{settings.profile}' is not in ~/.aws/config "
            "or ~/.aws/credentials"
        ) from None
    config = Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=30,
    )
    try:
        return session.client("route53", endpoint_url=settings.endpoint_url, config=config)
    except ValueError as exc:  # botocore's word on a malformed endpoint-url
        raise InputError(f"{settings.where} endpoint-url: {exc}") from None


class AwsError(ProviderError):
    """An error answer from Route 53, keeping AWS's code and message for the caller to inspect."""

    def __init__(self, text: str, code: str, aws_message: str) -> None:
        super().__init__(text)
        self.code = code
        self.aws_message = aws_message

    @property
    def denied(self) -> bool:
        return self.code in _DENIED


@contextmanager
def translated(endpoint: str) -> Iterator[None]:
    """Turn the botocore exceptions raised inside into ProviderError (AwsError for AWS answers)."""
    try:
        yield
    except ClientError as exc:
        raise _aws_error(exc) from None
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError):
        raise ProviderError(NO_CREDENTIALS) from None
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ProviderError(
            f"cannot reach Route 53 at {endpoint} ({exc}); check endpoint-url, the network and "
            "any proxy settings"
        ) from None
    except BotoCoreError as exc:
        raise ProviderError(f"Route 53 request failed: {exc}") from None
    except ResponseParserError as exc:  # not a BotoCoreError; its text quotes the whole answer
        raise ProviderError(
            f"the answer from {endpoint} is not a Route 53 answer ({str(exc).splitlines()[0]}); "
            "check endpoint-url and any proxy settings"
        ) from None


def _aws_error(exc: ClientError) -> AwsError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", "")
    operation = exc.operation_name
    if code in _DENIED:
        text = (
            f"Route 53 denied {operation} ({code}): allow {', '.join(IAM_ACTIONS)} for this AWS "
            "identity (docs/providers/route53.md has the minimal policy)"
        )
    elif code in _BUSY:
        text = (
            f"Route 53 still answered {code} to {operation} after retrying: other clients are "
            "using the account's request rate or changing this zone; run again later"
        )
    elif code in _BAD_CREDENTIALS:
        text = (
            f"AWS rejected the credentials ({code}) on {operation}: check the profile or the "
            "AWS_* environment variables, or renew the session"
        )
    else:
        text = f"Route 53 {operation} failed ({code}): {message}"
    return AwsError(text, code, message)
