"""`tlsagen publish`: apply the plan with every gate, then wait for every authoritative server."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption
from tlsagen.errors import ProviderError

log = logging.getLogger("tlsagen")


def publish(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option(help="Wait until every authoritative server serves the records.")
    ] = True,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the servers.")] = 300.0,
) -> None:
    """Publish the planned TLSA records, then confirm every authoritative server serves them."""
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    loaded, providers = open_config(config)
    plan = engine.make_plan(loaded, providers, datetime.now(UTC))
    for warning in plan.warnings:
        log.warning(warning)
    result = engine.PublishResult(plan)
    if dry_run:
        output.show_plan(plan, as_json)
        return
    result.applied = engine.apply(plan, providers)
    for name, zone in result.applied:
        log.info("updated zone %s through provider %s", zone, name)
    if not result.applied:
        log.info(output.summary(plan))
    if wait:
        with output.progress("waiting for every authoritative server") as update:
            result.servers = engine.wait_for_servers(plan, providers, timeout, update)
    if as_json:
        print(json.dumps(output.publish_json(result), indent=2))
    else:
        if result.applied:
            print(output.plan_text(engine.Plan(plan.pending, ())), end="")
        for line in output.server_lines(result.servers):
            print(line)
    lagging = [r for r in result.servers if r.missing]
    if lagging:
        raise ProviderError(
            f"published, but {len(lagging)} server(s) do not serve every record after "
            f"{timeout:.0f} s; run 'tlsagen publish' again to wait again"
        )
