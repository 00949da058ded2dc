"""Fixtures for the zone-file provider's tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tlsagen.provider import ProviderSettings
from tlsagen_zonefile.provider import ZonefileProvider
from tlsagen_zonefile.settings import Settings

TODAY = date(2025, 11, 28)
WHERE = "tlsagen.toml [providers.zones]"
BASE_ZONE = """\
$ORIGIN example.test.
$TTL 3600
@ IN SOA ns1 hostmaster ( 2025010100 ; serial
      7200 3600 1209600 300 )
  IN NS ns1
ns1 IN A 192.0.2.53
"""


@pytest.fixture
def make_provider() -> Callable[..., ZonefileProvider]:
    """make_provider(path, today=TODAY, check_command=[...], ...): options as keyword arguments."""

    def make(path: Path, today: date = TODAY, **options: object) -> ZonefileProvider:
        table = {"path": str(path), **{k.replace("_", "-"): v for k, v in options.items()}}
        settings = Settings.parse(ProviderSettings("zones", table, WHERE, path.parent))
        return ZonefileProvider(settings, today=lambda: today)

    return make


@pytest.fixture
def zone_file(tmp_path: Path) -> Path:
    path = tmp_path / "example.test.zone"
    path.write_text(BASE_ZONE)
    return path


@pytest.fixture(scope="session")
def named_checkzone() -> str:
    path = shutil.which("named-checkzone", path="/usr/bin:/usr/sbin:/bin:/sbin")
    if path is None:
        pytest.fail("named-checkzone not found: run scripts/install-test-deps.sh", pytrace=False)
    return path
