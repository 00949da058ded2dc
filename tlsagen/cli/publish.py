"""`tlsagen publish`: apply the plan with every gate, then wait for every authoritative server.

Run by certbot as a deploy hook (RENEWED_LINEAGE set) or by acme.sh as its reload command
(CERT_PATH ... set), it acts on the services that use the renewed files (`run_renewal`).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption, finite_seconds
from tlsagen.errors import LateKeyError

if TYPE_CHECKING:
    from tlsagen.rollover.hooks import Renewal

log = logging.getLogger("tlsagen")

HOW_TO_STAGE = (
    "To publish every new key before it goes live, let tlsagen deploy (add deploy = "
    "{ cert, key, reload } to the service, see docs/rollover.md), or make the ACME client keep "
    "its key or a standing next key (certbot: 'certbot reconfigure --cert-name NAME "
    "--reuse-key'; dehydrated: PRIVATE_KEY_ROLLOVER=yes; acme.sh keeps its key by default)"
)


def _now() -> datetime:
    return datetime.now(UTC)


def publish(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option(help="Wait until every authoritative server serves the records.")
    ] = True,
    timeout: Annotated[
        float,
        typer.Option(min=0, callback=finite_seconds, help="Seconds to wait for the servers."),
    ] = 300.0,
) -> None:
    """Publish the planned TLSA records, then confirm every authoritative server serves them.

    As a certbot deploy hook (RENEWED_LINEAGE) or acme.sh reload command, it acts on the services
    using the renewed certificate only.
    """
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config
    from tlsagen.cli.rollover import raise_if_lagging
    from tlsagen.plans import Plan
    from tlsagen.rollover import hooks

    renewal = hooks.from_environment(os.environ)
    if renewal is not None and not dry_run:
        run_renewal(config, renewal, timeout)
        return
    with output.kept_warnings() as logged:  # every warning stderr shows belongs in --json too
        loaded, providers = open_config(config)
        if dry_run:
            plan = engine.preview(loaded, providers, now=_now())
        else:
            with output.progress("waiting for every authoritative server") as update:
                result = engine.publish(
                    loaded, providers, clock=_now, wait=wait, timeout=timeout, progress=update
                )
    if dry_run:
        output.show_plan(output.with_logged(plan, logged), "json" if as_json else "text")
        return
    result.first = output.with_logged(result.first, logged)
    if not result.applied:
        log.info(output.summary(result.first))
    if as_json:
        print(json.dumps(output.publish_json(result), indent=2))
    else:
        for line in result.recovered:
            print(line)
        if result.applied:
            print(output.plan_text(Plan(result.first.pending, ())), end="")
        for line in output.server_lines(result.servers):
            print(line)
    if result.failure is not None:
        raise result.failure
    raise_if_lagging(result.servers, result.applied, timeout)


def run_renewal(config: Path | None, renewal: Renewal, timeout: float) -> None:
    """A renewal hook run: the services using the renewed files, their ACME client's settings,
    their records published at once, a new key staged (or deployed when its gate has passed)."""
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config
    from tlsagen.cli.rollover import raise_if_lagging, raise_if_refused

    loaded, providers = open_config(config)
    with output.progress("waiting for every authoritative server") as update:
        found = engine.after_renewal(
            loaded, providers, renewal, clock=_now, timeout=timeout, progress=update
        )
    for warning in found.warnings:
        log.warning(warning)
    if found.result is None:  # expected of a hook run for every lineage: standard output
        print(
            f"{renewal.client} renewed {renewal.name}, which no service uses (as its cert or "
            "key); nothing done"
        )
        return
    now = _now()
    for line in output.rollover_result_lines(found.result, now):
        print(line)
    if found.result.failure is not None:
        raise found.result.failure
    for item in found.result.plan.services:
        step = item.rollover.step("deploy")
        if step is not None and not step.gate.passed and not step.gate.refused:
            gate = step.gate
            when = f"at {output.moment(gate.opens, now)}" if gate.opens else "when its gate opens"
            print(  # expected: on standard output, which certbot does not take for an error
                f"{item.service.name}: the renewed certificate is staged: its records are "
                f"published, and 'tlsagen rollover advance' installs it {when}"
            )
    raise_if_lagging(found.result.servers, found.result.applied, timeout)
    raise_if_refused(found.result)
    if found.late:
        raise LateKeyError(
            "; ".join(found.late) + ". Its records are published now, but DANE senders that "
            "cached the previous records defer mail until their TTL runs out. " + HOW_TO_STAGE
        )
