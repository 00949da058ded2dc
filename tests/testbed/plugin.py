"""pytest fixtures for the DNS lab; load with `pytest_plugins = ["tests.testbed.plugin"]`."""

import itertools
from collections.abc import Iterator

import pytest

from .lab import start_lab
from .model import DnsLab
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
