"""`tlsagen rollover status / start / advance`: key slots and gates, a standing next key, and the
steps whose gates have passed. `advance` is idempotent and meant for a timer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption, finite_seconds
from tlsagen.errors import ProviderError, UnsafeError, UsageError

if TYPE_CHECKING:
    from tlsagen.engine import RolloverResult

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
    from tlsagen import engine, state
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    loaded, providers = open_config(config)
    only = [engine.service_named(loaded, service).name] if service else None
    now = _now()
    plan = engine.make_plan(loaded, providers, now, state.load(engine.state_path(loaded)), only)
    for warning in plan.warnings:
        log.warning(warning)
    output.show_rollover(plan, now, as_json)


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
    """Adopt or generate the service's next key and publish its records beside the current key."""
    from tlsagen import engine, state
    from tlsagen.cli import output
    from tlsagen.cli.common import open_config

    loaded, providers = open_config(config)
    with state.locked(engine.state_path(loaded)) as held:
        found = engine.ensure_next_key(loaded, held, service, key_type, _now())
        verb = "generated" if found.generated else "adopted"
        log.info("%s next key %s (%s) for service %s", verb, found.path, found.key_type, service)
        with output.progress("waiting for every authoritative server") as update:
            result = engine.advance(
                loaded, providers, held, _now, [service], False, False, timeout, update
            )
    for line in output.rollover_result_lines(result, _now()):
        print(line)
    raise_if_lagging(result)


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
    config: ConfigOption = None,
    timeout: TimeoutOption = 300.0,
) -> None:
    """Publish, deploy (and reload) and retire whatever is due; refuse the rest (exit 6)."""
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
    with (
        engine.open_state(loaded, only) as held,
        output.progress("waiting for every authoritative server") as update,
    ):
        result = engine.advance(
            loaded, providers, held, _now, only, emergency, True, timeout, update
        )
    for warning in result.plan.warnings:
        log.warning(warning)
    for line in output.rollover_result_lines(result, _now()):
        print(line)
    raise_if_lagging(result)
    refused = result.refused()
    if refused:
        name, step = refused[0]
        raise UnsafeError(
            f"{len(refused)} step(s) not yet due; first: {name} {step.kind}: {step.gate.reason}"
        )


def raise_if_lagging(result: RolloverResult) -> None:
    if result.lagging:
        raise ProviderError(
            f"{len(result.lagging)} server(s) do not serve every record yet; run again to wait"
        )
