"""deSEC providers on the emulator of tests/emulators/desec.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.desec import DesecEmulator
from tests.emulators.fixtures import TOKEN_ENV, desec_api
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
        table = {
            "token": f"env:{TOKEN_ENV}",
            "endpoint-url": desec_api.url + "/api/v1",
            "nameservers": [],
            **{key.replace("_", "-"): value for key, value in options.items()},
        }
        table = {key: value for key, value in table.items() if value is not None}
        return DesecProvider(parse(ProviderSettings("desec", table, WHERE, Path("."))))

    return make
