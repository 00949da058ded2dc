"""pytest fixtures for the DNS lab; load with `pytest_plugins = ["tests.testbed.plugin"]`."""

import itertools
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .acme import Pebble, start_pebble
from .lab import start_lab
from .model import DnsLab
from .moto import start_moto
from .postfix import PostfixLab, start_postfix
from .proc import INSTALL_HINT, missing_tools
from .tiers import starts_servers

_host_numbers = itertools.count(1)


@pytest.fixture(scope="session")
@starts_servers
def dns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    """The whole DNS lab, started once per session and stopped at its end."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    with start_lab(tmp_path_factory.mktemp("dnslab")) as lab:
        yield lab


@pytest.fixture
def fresh_host() -> str:
    """A host label (h1, h2, ...) that no other test of this session gets."""
    return f"h{next(_host_numbers)}"


@pytest.fixture(scope="session")
@starts_servers
def postfix_lab() -> Iterator[PostfixLab]:
    """A second Postfix instance on loopback (STARTTLS with RSA + ECDSA, no TLS, wrapper mode).

    Not under pytest's temporary directory: that one is private to root, and the postfix user
    must reach its data directory.
    """
    with tempfile.TemporaryDirectory(prefix="tlsagen-postfix-") as directory:
        os.chmod(directory, 0o755)
        with start_postfix(Path(directory)) as lab:
            yield lab


@pytest.fixture(scope="session")
@starts_servers
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """pebble, the ACME test CA, on loopback; it takes every challenge as valid."""
    with start_pebble(tmp_path_factory.mktemp("pebble")) as found:
        yield found


@pytest.fixture(scope="session")
@starts_servers
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto_server started for this test session, stopped (by PID) at its end."""
    with start_moto(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Dummy credentials only (returns the secret key): no real profile, config file or instance
    role can be reached."""
    secret = "do-not-print-this-secret-0123456789"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return secret


@pytest.fixture
def moto(moto_server: str, aws_env: str) -> str:
    """The moto_server URL, its state emptied for this test, with dummy credentials set."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    return moto_server
