"""`tlsagen generate`: print TLSA records for certificates and keys. Offline."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from tlsagen.config_values import PASSWORD_ENV
from tlsagen.core import formats
from tlsagen.core.records import Owner, host_name
from tlsagen.core.tlsa import DEFAULT_PARAMS, Params, compute
from tlsagen.errors import UnsafeError, UsageError

log = logging.getLogger("tlsagen")


def read_password(password_file: Path | None) -> bytes | None:
    """The key password from --password-file or TLSAGEN_KEY_PASSWORD (never from argv)."""
    from tlsagen.core import material

    if password_file is not None:
        data = material.read_bytes(password_file, str(password_file))
        return data.rstrip(b"\r\n")
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value is not None else None


def generate(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...", help="Certificate, chain, key, CSR, lineage dir, or - (stdin)."
        ),
    ],
    host: Annotated[str, typer.Option(help="Host the service runs on (Unicode allowed).")],
    port: Annotated[int, typer.Option(help="TCP/UDP port of the service.")] = 25,
    proto: Annotated[str, typer.Option(help="tcp, udp or sctp.")] = "tcp",
    params: Annotated[
        list[str] | None,
        typer.Option(help="'U S M' as numbers or RFC 7218 names; repeatable. Default '3 1 1'."),
    ] = None,
    ttl: Annotated[int, typer.Option(min=0, max=2147483647, help="TTL of the records.")] = 3600,
    fmt: Annotated[
        str, typer.Option("--format", help=f"Output format: {', '.join(formats.FORMATS)}.")
    ] = "zone",
    ta: Annotated[
        str | None,
        typer.Option(help="Trust anchor for usages 0/2: chain position (1 = issuer) or 'root'."),
    ] = None,
    zone: Annotated[
        str | None, typer.Option(help="Zone for relative names in octodns/dnscontrol output.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help=f"File holding the key password (or set {PASSWORD_ENV})."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (exit 6).")
    ] = False,
) -> None:
    """Print TLSA records for certificates or keys (offline)."""
    from tlsagen.core import (
        material,
        policy,  # cryptography: only this command needs it
    )

    if fmt not in formats.FORMATS:
        raise UsageError(f"--format {fmt}: use one of {', '.join(formats.FORMATS)}")
    owner = Owner.for_service(host, port, proto.lower())
    chosen = [Params.parse(text) for text in params or []] or [DEFAULT_PARAMS]
    zone_name = host_name(zone) if zone else None
    password = read_password(password_file)
    warnings = policy.lint_params(chosen, port)
    records = []
    now = datetime.now(UTC)
    for source in sources:
        found = material.read_source(source, password)
        warnings += policy.lint_material(found, now)
        records += [formats.Record(found.source, owner, ttl, compute(found, p, ta)) for p in chosen]
    warnings += policy.lint_rrset_size(owner.name, len({r.data for r in records}))
    for warning in dict.fromkeys(warnings):
        log.warning(warning)
    if strict and warnings:
        raise UnsafeError(f"{len(warnings)} warning(s) and --strict was given; nothing printed")
    print(formats.render(fmt, records, zone_name), end="")
