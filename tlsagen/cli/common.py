"""Options and steps that several commands share: finding the config, opening providers."""

from __future__ import annotations

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


def open_config(path: Path | None) -> tuple[Config, dict[str, Provider]]:
    from tlsagen import config, engine

    loaded = config.load(config.find(path))
    providers = engine.open_providers(loaded, (s.provider for s in loaded.services))
    return loaded, providers
