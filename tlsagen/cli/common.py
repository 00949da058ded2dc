"""Options and steps that several commands share: finding the config, opening providers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tlsagen.config import Config
    from tlsagen.provider import Provider

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="tlsagen.toml (default: $TLSAGEN_CONFIG, ./tlsagen.toml, /etc/tlsagen/tlsagen.toml).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (schema 1).")]


def finite_seconds(value: float) -> float:
    """A --timeout callback: NaN, infinity and more than MAX_SECONDS are usage errors (exit 2)."""
    from tlsagen.config_values import MAX_SECONDS

    if not math.isfinite(value) or value > MAX_SECONDS:
        raise typer.BadParameter(f"expected a number of seconds up to {MAX_SECONDS:g}, not {value}")
    return value


def open_config(path: Path | None) -> tuple[Config, dict[str, Provider]]:
    from tlsagen import config, engine

    loaded = config.load(config.find(path))
    providers = engine.open_providers(loaded, (s.provider for s in loaded.services))
    return loaded, providers
