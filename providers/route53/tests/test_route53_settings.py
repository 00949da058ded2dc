"""The provider's configuration table, its entry point, and that boto3 loads only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tlsagen_route53
from tlsagen.errors import InputError
from tlsagen.provider import ProviderSettings, installed, load
from tlsagen_route53.settings import Settings

WHERE = "tlsagen.toml [providers.aws]"


def parse(**options: Any) -> Settings:
    return Settings.parse(ProviderSettings("aws", options, WHERE, Path(".")))


def test_defaults_and_every_key() -> None:
    assert parse() == Settings(WHERE)
    table = {
        "profile": "dns",
        "region": "eu-west-1",
        "zone-id": "/hostedzone/Z123",
        "endpoint-url": "https://route53.example.test",
        "private": True,
        "timeout": 60,
    }
    assert parse(**table) == Settings(
        WHERE, "dns", "eu-west-1", "Z123", "https://route53.example.test", True, 60.0
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("zone_id", "Z1", "unknown key 'zone_id'; did you mean 'zone-id'?"),
        ("private", "yes", "private: expected true or false"),
        ("timeout", 0, "timeout: expected a positive number"),
        ("endpoint-url", "localhost:5000", "endpoint-url: expected an http:// or https:// URL"),
        ("region", 1, "region: expected a string"),
    ],
)
def test_bad_values(key: str, value: object, message: str) -> None:
    with pytest.raises(InputError) as error:
        parse(**{key: value})
    assert message in str(error.value)


@pytest.mark.parametrize(
    "key", ["aws_access_key_id", "aws_secret_access_key", "secret-access-key", "aws_session_token"]
)
def test_credentials_are_refused_without_echoing_them(key: str) -> None:
    with pytest.raises(InputError) as error:
        parse(**{key: "AKIAEXAMPLEVALUE"})
    assert "credentials never go in tlsagen.toml" in str(error.value)
    assert "AKIAEXAMPLEVALUE" not in str(error.value)


def test_entry_point() -> None:
    assert load("route53") is tlsagen_route53.create
    assert installed()["route53"].startswith("tlsagen-route53 ")


def test_core_and_config_parsing_do_not_import_boto3() -> None:
    code = (
        "import importlib, pkgutil, sys, tlsagen\n"
        "for module in pkgutil.walk_packages(tlsagen.__path__, 'tlsagen.'):\n"
        "    importlib.import_module(module.name)\n"
        "from tlsagen.provider import load\n"
        "import tlsagen_route53.settings\n"
        "assert load('route53') is not None\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
