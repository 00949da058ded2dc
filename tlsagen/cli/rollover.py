"""`tlsagen rollover status / start / advance`: key slots and gates, a standing next key, and the
steps whose gates have passed. `advance` is idempotent and meant for a timer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption, finite_seconds
from tlsagen.errors import ChangesPending, ProviderError, UnsafeError, UsageError

if TYPE_CHECKING:
    from tlsagen.plans import RunResult, ServerReport

log = logging.getLogger("tlsagen")

app = typer.Typer(
    help="Key rollover: show slots and gates, start a next key, advance the steps that are due.",
    no_args_is_help=True,
)

ServiceArgument = Annotated[
    str | None, typer.Argument(metavar="SERVICE", help="One service (default: all).")
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        min=0, callback=finite_seconds, help="Seconds to wait for every authoritative server."
    ),
]

EMERGENCY_EFFECTS = (
    "an emergency rollover deploys the new key and removes the old key's records at once, "
    "without waiting for caches. DANE senders (e.g. Postfix, Exim with DANE) that cached the "
    "old TLSA records (for up to {ttl} s) find that the new key matches nothing: they defer "
    "mail to you (it is not bounced) and retry once their cache expires, so mail is delayed by "
    "up to about the TTL. Senders without DANE are not affected."
)


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def status(
    service: ServiceArgument = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Show each service's key slots, what DNS holds, and which gate is pending until when."""
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    with output.kept_warnings() as logged:  # a provider's warnings belong in --json too
        loaded, providers = open_config(config)
        only = [engine.service_named(loaded, service).name] if service else None
        now = _now()
        plan = engine.preview(loaded, providers, now=now, only=only)
    output.show_rollover(output.with_logged(plan, logged), now, as_json)


@app.command()
def start(
    service: Annotated[str, typer.Argument(help="The service to give a next key.")],
    key_type: Annotated[
        str | None,
        typer.Option(
            help="rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519 or ed448 "
            "(default: the current key's type)."
        ),
    ] = None,
    config: ConfigOption = None,
    timeout: TimeoutOption = 300.0,
) -> None:
    """Adopt or generate the service's next key and publish its records beside the current key.

    Not for a certbot lineage: certbot never uses a standing next key (exit 2).
    """
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    loaded, providers = open_config(config)
    with output.progress("waiting for every authoritative server") as update:
        _, result = engine.start(
            loaded,
            providers,
            service,
            clock=_now,
            key_type=key_type,
            timeout=timeout,
            progress=update,
        )
    for line in output.rollover_result_lines(result, _now()):
        print(line)
    if result.failure is not None:
        raise result.failure
    raise_if_lagging(result.servers, result.applied, timeout)


@app.command()
def advance(
    service: ServiceArgument = None,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="The current key is compromised: deploy and retire without waiting for gates.",
        ),
    ] = False,
    confirmed: Annotated[
        bool,
        typer.Option(
            "--yes-i-understand", help="Confirm --emergency, knowing what DANE senders will see."
        ),
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option("--exit-code", help="Exit 8 while steps wait for their time to come."),
    ] = False,
    config: ConfigOption = None,
    timeout: TimeoutOption = 300.0,
) -> None:
    """Publish, deploy (and reload) and retire whatever is due; say when the rest will be.

    Exits 0 when every due step was done and the others wait for their time (8 with
    --exit-code), 6 when evidence refuses a step.
    """
    from tlsagen import engine
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    loaded, providers = open_config(config)
    only = [engine.service_named(loaded, service).name] if service else None
    if emergency:
        ttl = max(s.ttl for s in loaded.services if only is None or s.name in only)
        effects = EMERGENCY_EFFECTS.format(ttl=ttl)
        if not confirmed:
            raise UsageError(f"{effects} Add --yes-i-understand to go ahead.")
        log.warning("EMERGENCY: %s", effects)
    with output.progress("waiting for every authoritative server") as update:
        result = engine.advance(
            loaded,
            providers,
            clock=_now,
            only=only,
            emergency=emergency,
            timeout=timeout,
            progress=update,
        )
    for warning in result.plan.warnings:
        log.warning(warning)
    for line in output.rollover_result_lines(result, _now()):
        print(line)
    if result.failure is not None:
        raise result.failure
    raise_if_lagging(result.servers, result.applied, timeout)
    raise_if_refused(result)
    waiting = result.waiting()
    if exit_code and waiting:
        name, step = waiting[0]
        raise ChangesPending(
            f"{len(waiting)} step(s) wait for their time; first: {name} {step.kind} "
            f"{output.gate_state(step.gate, _now())}"
        )


NEVER_SERVING_WHY = {
    "REFUSED": "it does not serve the zone (not configured for it, or not for this client)",
    "NOTAUTH": "it is not authoritative for the zone",
    "SERVFAIL": "it cannot serve the zone (not loaded, expired, or failing to sign)",
}


def raise_if_lagging(
    servers: Sequence[ServerReport], applied: Sequence[tuple[str, str]], timeout: float
) -> None:
    """ProviderError (exit 4) when a server does not serve every planned record, saying what
    was applied: a server that answered an error is named with it, waiting will not cure it."""
    from tlsagen.plans import FAILING

    lagging = [report for report in servers if report.missing]
    if not lagging:
        return
    done = (
        f"the change was applied to zone {', '.join(zone for _, zone in applied)}"
        if applied
        else "DNS held the planned records already"
    )
    failing = [report for report in lagging if report.state == FAILING]
    if failing:
        named = "; ".join(
            f"{r.server} answered {r.rcode} for zone {r.zone}: {NEVER_SERVING_WHY[str(r.rcode)]}"
            for r in failing
        )
        raise ProviderError(
            f"{done}, but {named}; waiting will not help: fix that server (or take it out of "
            "'nameservers'), then run the command again"
        )
    named = ", ".join(f"{r.server} ({r.state})" for r in lagging)
    raise ProviderError(
        f"{done}, but {len(lagging)} server(s) do not serve every record after {timeout:.0f} s: "
        f"{named}; run the command again to wait again"
    )


def raise_if_refused(result: RunResult) -> None:
    refused = result.refused()
    if refused:
        name, step = refused[0]
        raise UnsafeError(
            f"{len(refused)} step(s) refused; first: {name} {step.kind}: {step.gate.reason}"
        )
