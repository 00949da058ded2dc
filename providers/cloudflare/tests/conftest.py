"""Cloudflare providers on the emulator of tests/emulators/cloudflare.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.fixtures import cloudflare_api, provider_table
from tlsagen.provider import ProviderSettings
from tlsagen_cloudflare.provider import CloudflareProvider, parse

__all__ = ["cloudflare_api"]
WHERE = "tlsagen.toml [providers.cf]"
Make = Callable[..., CloudflareProvider]


@pytest.fixture
def cloudflare(cloudflare_api: CloudflareEmulator, monkeypatch: pytest.MonkeyPatch) -> Make:
    """A provider on the emulator (options as in tlsagen.toml); retries are not slept."""
    monkeypatch.setattr("time.sleep", lambda seconds: None)

    def make(**options: Any) -> CloudflareProvider:
        table = provider_table(cloudflare_api.url + "/client/v4", options)
        return CloudflareProvider(parse(ProviderSettings("cf", table, WHERE, Path("."))))

    return make
