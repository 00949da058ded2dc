"""pytest fixtures: an emulator per test, started on loopback, its API token in the
environment, and no schema violation allowed by the end of the test. Conftest files import
them (`from tests.emulators.fixtures import cloudflare_api, desec_api`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.desec import DesecEmulator

TOKEN_ENV = "TLSAGEN_TEST_API_TOKEN"


@pytest.fixture
def cloudflare_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudflareEmulator]:
    emulator = CloudflareEmulator()
    emulator.start()
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests or answers off the Cloudflare schema"


@pytest.fixture
def desec_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DesecEmulator]:
    emulator = DesecEmulator()
    emulator.start()
    monkeypatch.setenv(TOKEN_ENV, emulator.token)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests or answers off the deSEC schema"
