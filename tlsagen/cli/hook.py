"""`tlsagen hook dehydrated ARGS...`: dehydrated's hook script hands over its arguments.

certbot (deploy hook) and acme.sh (--reloadcmd) run `tlsagen publish`, which reads their
environment; dehydrated passes the event and its values as arguments instead.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from tlsagen.cli.common import ConfigOption, finite_seconds
from tlsagen.errors import UsageError

log = logging.getLogger("tlsagen")
CLIENTS = ("dehydrated",)


def hook(
    client: Annotated[str, typer.Argument(help="The ACME client: dehydrated.")],
    arguments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ARGS...",
            help="The hook's arguments, e.g. deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE "
            "CHAINFILE TIMESTAMP; other events are ignored.",
        ),
    ] = None,
    config: ConfigOption = None,
    timeout: Annotated[
        float,
        typer.Option(min=0, callback=finite_seconds, help="Seconds to wait for the servers."),
    ] = 300.0,
) -> None:
    """Run from an ACME client's hook script: publish (and stage) a renewed certificate."""
    from tlsagen.cli.publish import run_renewal
    from tlsagen.rollover import hooks

    if client not in CLIENTS:
        raise UsageError(
            f"unknown client '{client}' (known: {', '.join(CLIENTS)}); certbot and acme.sh run "
            "'tlsagen publish' as their deploy hook or reload command"
        )
    renewal = hooks.dehydrated(arguments or [])
    if renewal is None:
        log.debug("dehydrated event %s ignored", (arguments or ["(none)"])[0])
        return
    run_renewal(config, renewal, timeout)
