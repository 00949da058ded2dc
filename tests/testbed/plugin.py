"""pytest fixtures for the DNS lab; load with `pytest_plugins = ["tests.testbed.plugin"]`."""

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .acme import Pebble, start_pebble
from .lab import start_lab
from .model import DnsLab
from .postfix import PostfixLab, start_postfix
from .proc import INSTALL_HINT, missing_tools

_host_numbers = itertools.count(1)


@pytest.fixture(scope="session")
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
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """pebble, the ACME test CA, on loopback; it takes every challenge as valid."""
    with start_pebble(tmp_path_factory.mktemp("pebble")) as found:
        yield found
