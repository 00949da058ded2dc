"""deSEC providers on the emulator of tests/emulators/desec.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.desec import DesecEmulator
from tests.emulators.fixtures import desec_api, provider_table
from tlsagen.provider import ProviderSettings
from tlsagen_desec.provider import DesecProvider, parse

__all__ = ["desec_api"]
WHERE = "tlsagen.toml [providers.desec]"
Make = Callable[..., DesecProvider]


@pytest.fixture
def desec(desec_api: DesecEmulator, monkeypatch: pytest.MonkeyPatch) -> Make:
    """A provider on the emulator (options as in tlsagen.toml); retries are not slept."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    def make(**options: Any) -> DesecProvider:
        table = provider_table(desec_api.url + "/api/v1", options)
        return DesecProvider(parse(ProviderSettings("desec", table, WHERE, Path("."))))

    return make
