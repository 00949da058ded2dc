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
from tlsagen.errors import LateKeyError, TlsagenError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tlsagen.config import Config
    from tlsagen.engine import PublishResult
    from tlsagen.provider import Provider
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
    from tlsagen.rollover import hooks, state

    renewal = hooks.from_environment(os.environ)
    if renewal is not None and not dry_run:
        run_renewal(config, renewal, timeout)
        return
    with output.kept_warnings() as logged:  # every warning stderr shows belongs in --json too
        loaded, providers = open_config(config)
        if dry_run:  # as `plan` does: the state is read, neither locked nor written
            memories = state.load(engine.state_path(loaded))
            plan = engine.make_plan(loaded, providers, _now(), memories)
            for warning in plan.warnings:
                log.warning(warning)
        else:
            result, failed = _apply(loaded, providers, wait, timeout)
    if dry_run:
        output.show_plan(output.with_logged(plan, logged), "json" if as_json else "text")
        return
    result.plan = output.with_logged(result.plan, logged)
    if as_json:
        print(json.dumps(output.publish_json(result), indent=2))
    else:
        if result.applied:
            print(output.plan_text(engine.Plan(result.plan.pending, ())), end="")
        for line in output.server_lines(result.servers):
            print(line)
    if failed is not None:
        raise failed
    raise_if_lagging(result.servers, result.applied, timeout)


def _apply(
    loaded: Config, providers: Mapping[str, Provider], wait: bool, timeout: float
) -> tuple[PublishResult, TlsagenError | None]:
    """Plan under the state's lock, apply, wait for the servers; the result, and the error to
    raise once it is shown when one came after a change was applied."""
    from tlsagen import engine
    from tlsagen.cli import output

    with engine.open_state(loaded) as held:
        plan = engine.make_plan(loaded, providers, _now(), held.memories)
        engine.remember(held, plan)
        for warning in plan.warnings:
            log.warning(warning)
        result = engine.PublishResult(plan)
        try:
            engine.apply(plan, providers, result.applied)
            for name, zone in result.applied:
                log.info("updated zone %s through provider %s", zone, name)
            if not result.applied:
                log.info(output.summary(plan))
            if wait:
                with output.progress("waiting for every authoritative server") as update:
                    result.servers = engine.wait_for_servers(plan, providers, timeout, update)
            lagging = [r for r in result.servers if r.missing]
            if result.applied and wait and not lagging and any(s.managed for s in plan.services):
                engine.remember(held, engine.make_plan(loaded, providers, _now(), held.memories))
        except TlsagenError as exc:
            if not result.applied:
                raise
            return result, _after_applying(exc, result)
    return result, None


def _after_applying(exc: TlsagenError, result: PublishResult) -> TlsagenError:
    """`exc`, raised once a change was applied, saying what was applied and what is missing."""
    if len(result.applied) < len(result.plan.change_sets()):
        return exc  # engine.apply names the zones updated and those not
    zones = ", ".join(zone for _, zone in result.applied)
    exc.args = (
        f"{exc} (applied to zone(s) {zones}; still missing: the check that every authoritative "
        "server serves the records; run 'tlsagen publish' again to finish)",
    )
    return exc


def run_renewal(config: Path | None, renewal: Renewal, timeout: float) -> None:
    """A renewal hook run: the services using the renewed files, their ACME client's settings,
    their records published at once, a new key staged (or deployed when its gate has passed)."""
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config
    from tlsagen.cli.rollover import raise_if_lagging, raise_if_refused

    loaded, providers = open_config(config)
    with output.progress("waiting for every authoritative server") as update:
        found = engine.after_renewal(loaded, providers, renewal, _now, timeout, update)
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
