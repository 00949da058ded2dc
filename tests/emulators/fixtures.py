"""pytest fixtures: an emulator per test, started on loopback, its API token in the
environment, and no schema violation allowed by the end of the test. Conftest files import
them (`from tests.emulators.fixtures import cloudflare_api, desec_api`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.desec import DesecEmulator
from tests.emulators.server import Emulator

TOKEN_ENV = "TLSAGEN_TEST_API_TOKEN"
E = TypeVar("E", bound=Emulator)


def running(emulator: E, monkeypatch: pytest.MonkeyPatch) -> Iterator[E]:
    emulator.start()
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], f"requests or answers off the {emulator.schema_name} schema"


@pytest.fixture
def cloudflare_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudflareEmulator]:
    yield from running(CloudflareEmulator(), monkeypatch)


@pytest.fixture
def desec_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DesecEmulator]:
    yield from running(DesecEmulator(), monkeypatch)


def provider_table(url: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A `[providers.NAME]` table on the emulator at `url`: keyword options (zone_id for
    zone-id) over a token reference and no polling; None leaves an option out."""
    table = {"token": f"env:{TOKEN_ENV}", "endpoint-url": url, "nameservers": []}
    table.update({key.replace("_", "-"): value for key, value in options.items()})
    return {key: value for key, value in table.items() if value is not None}
