"""`tlsagen check`: DNSSEC status, every authoritative server, and a live DANE match per address."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tlsagen.cli.common import ConfigOption, JsonOption, finite_seconds
from tlsagen.cli.monitoring import unknown_on_error
from tlsagen.errors import InputError, UsageError

if TYPE_CHECKING:
    from tlsagen.check import Report, Settings, Target
    from tlsagen.config import Config
    from tlsagen.core.endpoint import Endpoint
    from tlsagen.core.records import Malformed
    from tlsagen.core.tlsa import TLSAData

log = logging.getLogger("tlsagen")


@unknown_on_error
def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            help="Mail domain (its MX hosts), host, or HOST:PORT. None: every configured service.",
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the service.")] = 25,
    starttls: Annotated[
        str | None,
        typer.Option(
            help="smtp, imap, pop3 or none (implicit TLS). Default: the service's "
            "`starttls`, else by port."
        ),
    ] = None,
    mx: Annotated[
        bool, typer.Option("--mx", help="TARGET is a mail domain: check its MX hosts.")
    ] = False,
    resolver: Annotated[
        str | None,
        typer.Option(
            help=r"Validating resolver IP[:PORT]. Default: \[defaults] resolver, else the system's."
        ),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            help="Authoritative server IP[:PORT] to ask directly, for every zone; repeatable. "
            "Default: the servers the service's provider names for its zone, else port 53 "
            "of each NS."
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            callback=finite_seconds,
            help="Seconds for each DNS query, and for all handshakes with one address.",
        ),
    ] = 10.0,
    workers: Annotated[int, typer.Option(min=1, help="Checks run at the same time.")] = 32,
    sig_margin: Annotated[
        int,
        typer.Option(min=0, help="Warn when an RRSIG expires sooner than 2 x TTL + this (s)."),
    ] = 3600,
    chain: Annotated[
        Path | None,
        typer.Option(help="Offline: match this chain file (leaf first); no connection."),
    ] = None,
    tlsa: Annotated[
        list[str] | None,
        typer.Option(help="With --chain: a record 'U S M HEX' to match; repeatable."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="With --chain: the host name (default: the certificate's first)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (exit 6).")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="text (a table on a terminal), json, nagios (monitoring plugin) or prometheus "
            "(node_exporter textfile); see docs/monitoring.md.",
        ),
    ] = "text",
) -> None:
    """Check DNSSEC, every authoritative server and the live keys of mail domains or hosts."""
    from tlsagen import check as checking
    from tlsagen.cli import monitoring, output
    from tlsagen.config import STARTTLS
    from tlsagen.core.endpoint import parse_endpoint

    if fmt not in ("text", "json", *monitoring.FORMATS):
        raise UsageError(f"--format {fmt}: use text, json, {', '.join(monitoring.FORMATS)}")
    if starttls is not None and starttls not in STARTTLS:
        raise UsageError(f"--starttls {starttls}: use smtp, imap, pop3 or none")
    if (tlsa or name) and chain is None:
        raise UsageError("--tlsa and --name go with --chain (offline mode)")
    if chain is not None and targets:
        raise UsageError("--chain checks one chain offline; give no TARGET")
    asks_dns = chain is None or not tlsa  # --chain without --tlsa reads the records from DNS
    offline = not asks_dns and config is None  # needs no DNS, no config
    loaded = None if offline else _config(config, bool(targets) or chain is not None)
    settings = checking.Settings(
        resolver=_resolver(resolver, loaded, asks_dns),
        now=datetime.now(UTC),
        nameservers=tuple(parse_endpoint(text, "--nameserver") for text in nameserver or []),
        timeout=timeout,
        workers=workers,
        sig_margin=timedelta(seconds=sig_margin),
    )
    if chain is not None:
        report = _offline(chain, tlsa, name, port, starttls, settings)
    else:
        if targets:
            found = _given_targets(targets, port, mx, starttls)
        else:
            found = _configured_targets(loaded, starttls, settings.now) if loaded else []
        if not found:
            raise InputError("give a TARGET, or a configuration whose services to check")
        with output.progress("checking") as update:
            report = checking.check(found, settings, update)
    if fmt in monitoring.FORMATS:
        raise typer.Exit(monitoring.show(report, fmt, settings.now, strict))
    output.show_check(report, as_json or fmt == "json", strict)
    error = report.error(strict)
    if error is not None:
        raise error


def _config(path: Path | None, optional: bool) -> Config | None:
    """The configuration: needed without targets; read when --config is given or one is found."""
    from tlsagen import config

    if optional and path is None:
        try:
            path = config.find(None)
        except InputError:
            return None
    return config.load(config.find(path))


def _resolver(text: str | None, loaded: Config | None, asks_dns: bool) -> Endpoint | None:
    """--resolver, else the configured one, else the system's; None when no DNS is asked."""
    from tlsagen.core.endpoint import parse_endpoint
    from tlsagen.net.lookup import system_resolver

    if text is not None:
        return parse_endpoint(text, "--resolver")
    if loaded is not None and loaded.resolver is not None:
        return loaded.resolver
    return system_resolver() if asks_dns else None


def _given_targets(texts: list[str], port: int, mx: bool, starttls: str | None) -> list[Target]:
    from tlsagen.check import Target
    from tlsagen.core.records import host_name

    targets = []
    for text in texts:
        host, _, given = text.rpartition(":")
        if host and given.isascii() and given.isdigit():
            if len(given) > 5 or not 0 < int(given) < 65536:
                raise UsageError(f"{text}: the port must be 1-65535")
            targets.append(Target(host_name(host), int(given), mx, label=text, starttls=starttls))
        else:
            wants_mx = True if mx else (None if port == 25 else False)
            targets.append(Target(host_name(text), port, wants_mx, label=text, starttls=starttls))
    return targets


def _configured_targets(loaded: Config, starttls: str | None, now: datetime) -> list[Target]:
    """Every TCP owner of every configured service: its port and `starttls` (--starttls wins),
    the servers its provider names for its zone, and the keys configuration and state know."""
    from tlsagen import registry
    from tlsagen.check import Keys, Target
    from tlsagen.rollover import planner, slots, state

    state_path = loaded.state or state.default_path()
    memories = state.load(state_path)
    opened = {
        name: registry.create(configured.kind, configured.settings)
        for name, configured in sorted(loaded.providers.items())
        if any(service.provider == name for service in loaded.services)
    }
    targets = []
    for service in loaded.services:
        owners = [owner for owner in service.owners if owner.name.split(".")[1] == "_tcp"]
        for owner in sorted(set(service.owners) - set(owners)):
            log.warning("%s: only TCP services can be checked; skipped", owner)
        if not owners:
            continue
        found = slots.read(service, now, state.next_key_path(state_path, service.name))
        memory = memories.get(service.name)
        keys = Keys(
            found.current,
            found.staged.chain if found.staged else None,
            found.nexts,
            memory,
            service.ttl,
            state.under_rollover(service, memory or planner.Memory()),
        )
        zones = opened[service.provider].zones(owners)
        servers = {
            zone: tuple(opened[service.provider].servers(zone)) for zone in set(zones.values())
        }
        targets += [
            Target(
                owner.host,
                owner.port,
                False,
                keys,
                service.name,
                starttls or service.starttls,
                servers[zones[owner]],
            )
            for owner in owners
        ]
    return targets


def _offline(
    path: Path,
    texts: list[str] | None,
    name: str | None,
    port: int,
    starttls: str | None,
    settings: Settings,
) -> Report:
    from cryptography import x509

    from tlsagen.check import Target, check_chain
    from tlsagen.core import material
    from tlsagen.core.records import host_name
    from tlsagen.core.text import escaped
    from tlsagen.core.verify import reference_names

    found = material.read_source(str(path))
    if not found.chain:
        raise InputError(f"{path}: holds no certificate; --chain needs the served chain")
    if name is None:
        names = reference_names(x509.load_der_x509_certificate(found.chain[0]))
        if not names:
            raise UsageError(f"{path}: the certificate names no host; give --name")
        name = names[0]
        log.info(
            "checking as %s, the certificate's first name (give --name to choose)", escaped(name)
        )
    records = [_given_record(text) for text in texts] if texts else None
    target = Target(host_name(name), port, False, label=str(path), starttls=starttls)
    return check_chain(found.chain, str(path), target, records, settings)


def _given_record(text: str) -> TLSAData | Malformed:
    """A --tlsa record as DNS could hold it: one tlsagen would not write (a digest of the wrong
    length, undefined fields) is matched as a sender would (and found unusable); text that is not
    `U S M HEX` is Malformed, reported unusable like such a record in DNS."""
    from tlsagen.core.records import Malformed
    from tlsagen.core.tlsa import TLSAData

    try:
        return TLSAData.from_text(text, check=False)
    except UsageError as exc:
        return Malformed(text, str(exc))
