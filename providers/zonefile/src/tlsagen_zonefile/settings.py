"""The `[providers.NAME]` table of `type = "zonefile"`, checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.name

from tlsagen.provider import (
    InputError,
    ProviderSettings,
    check_keys,
    get_str,
    get_str_list,
    resolve_path,
)
from tlsagen_zonefile.serial import MODES

KEYS = ("path", "pattern", "zone", "serial", "check-command", "signed-by")
DEFAULT_PATTERN = "{zone}.zone"
DEFAULT_SERIAL = "increment"
# Who holds the zone's DNSKEY: the zone file ("file": warn when it has none), or whatever signs
# the zone after tlsagen writes it ("server": BIND dnssec-policy, Knot, a signing pipeline).
SIGNED_BY = ("file", "server")


@dataclass(frozen=True)
class Settings:
    path: Path  # one zone file, or a directory of them
    directory: bool
    pattern: str  # the file name of a zone in the directory; {zone} is its name without the dot
    zone: dns.name.Name | None  # the single file's zone; None: the owner of its SOA
    serial: str  # one of MODES
    check_command: tuple[str, ...]  # argv with {zone} and {file}; empty: no check
    where: str
    signed_by: str = "file"  # one of SIGNED_BY

    @classmethod
    def parse(cls, settings: ProviderSettings) -> Settings:
        options, where = settings.options, settings.where
        check_keys(options, KEYS, where)
        path_text = get_str(options, "path", where)
        if not path_text:
            raise InputError(f"{where}: path is required: a zone file, or a directory of them")
        path = resolve_path(path_text, settings.base_dir)
        directory = path.is_dir()
        pattern = get_str(options, "pattern", where)
        zone = get_str(options, "zone", where)
        if pattern is not None and not directory:
            raise InputError(f"{where} pattern: {path} is not a directory")
        if zone is not None and directory:
            raise InputError(
                f"{where} zone: {path} is a directory, where each file's name tells its zone"
            )
        pattern = pattern or DEFAULT_PATTERN
        if "{zone}" not in pattern:
            raise InputError(f"{where} pattern: '{pattern}' must contain {{zone}}")
        serial = get_str(options, "serial", where, DEFAULT_SERIAL)
        if serial not in MODES:
            raise InputError(f"{where} serial: '{serial}' is not one of {', '.join(MODES)}")
        signed_by = get_str(options, "signed-by", where, "file")
        if signed_by not in SIGNED_BY:
            raise InputError(
                f"{where} signed-by: '{signed_by}' is not one of {', '.join(SIGNED_BY)}"
            )
        return cls(
            path=path,
            directory=directory,
            pattern=pattern,
            zone=_zone(zone, where),
            serial=serial,
            check_command=_check_command(options, where),
            where=where,
            signed_by=signed_by,
        )


def _zone(text: str | None, where: str) -> dns.name.Name | None:
    if text is None:
        return None
    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise InputError(f"{where} zone: '{text}' is not a domain name ({exc})") from None


def _check_command(options: Mapping[str, Any], where: str) -> tuple[str, ...]:
    example = '["named-checkzone", "{zone}", "{file}"]'
    if isinstance(options.get("check-command"), str):
        raise InputError(f"{where} check-command: expected a list of arguments, like {example}")
    argv = get_str_list(options, "check-command", where)
    if argv and not any("{file}" in arg for arg in argv):
        raise InputError(
            f"{where} check-command: no argument names the new zone file with {{file}}, "
            f"like {example}"
        )
    return tuple(argv)
