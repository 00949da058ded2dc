"""`tlsagen plan`: what publish would change. Read-only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption
from tlsagen.errors import ChangesPending, UsageError

log = logging.getLogger("tlsagen")


def plan(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 8 when changes are pending (drift check).")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="text (a table on a terminal), json, or markdown (for PR comments)."
        ),
    ] = "text",
) -> None:
    """Show each owner's desired and published TLSA records and the changes pending."""
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    if fmt not in output.PLAN_FORMATS:
        raise UsageError(f"--format {fmt}: use one of {', '.join(output.PLAN_FORMATS)}")
    with output.kept_warnings() as logged:  # a provider's warnings belong in the report too
        loaded, providers = open_config(config)
        result = engine.preview(loaded, providers, now=datetime.now(UTC))
    result = output.with_logged(result, logged)
    output.show_plan(result, "json" if as_json else fmt)
    if exit_code and result.pending:
        raise ChangesPending(f"{len(result.pending)} owner(s) have changes pending")
