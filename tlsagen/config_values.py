"""Checking configuration values: known keys, typed values, secrets by reference.

Shared by config.py and by every provider, so that all configuration errors read alike:
`FILE [TABLE] key: what is wrong; what is expected` (exit code 3).
"""

from __future__ import annotations

import difflib
import logging
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tlsagen.errors import InputError

log = logging.getLogger("tlsagen")


def check_keys(table: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
    """InputError naming the first unknown key, with a suggestion."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"known keys: {', '.join(sorted(allowed))}"
            )
            raise InputError(f"{where}: unknown key '{key}'; {hint}")


def get_str(
    table: Mapping[str, Any], key: str, where: str, default: str | None = None
) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where} {key}: expected a string, got {type(value).__name__}")
    return value


def get_bool(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"{where} {key}: expected true or false, got {value!r}")
    return value


def get_int(
    table: Mapping[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0
) -> int | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where} {key}: expected a whole number, got {value!r}")
    if value < minimum:
        raise InputError(f"{where} {key}: expected a number of at least {minimum}, got {value}")
    return value


def get_float(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"{where} {key}: expected a positive number, got {value!r}")
    return float(value)


def get_str_list(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(f"{where} {key}: expected a list of strings")
    return list(value)


def resolve_path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def warn_if_exposed(path: Path, what: str) -> None:
    """Warn when a file holding a secret or private key is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        log.warning(
            "%s %s is readable by group or others (mode %s); chmod 600 it",
            what,
            path,
            oct(stat.S_IMODE(mode)),
        )


def read_secret(reference: str, where: str, base_dir: Path) -> str:
    """The secret named by `env:VAR` or `file:PATH`; never the secret itself in the file."""
    kind, _, name = reference.partition(":")
    if kind == "env" and name:
        value = os.environ.get(name)
        if value is None:
            raise InputError(f"{where}: environment variable {name} is not set")
        return value.strip()
    if kind == "file" and name:
        path = resolve_path(name, base_dir)
        warn_if_exposed(path, "secret file")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise InputError(f"{where}: cannot read secret file {path} ({exc.strerror})") from None
    raise InputError(
        f"{where}: a secret must be given by reference, 'env:VARIABLE' or 'file:PATH' "
        "(never the secret itself)"
    )
