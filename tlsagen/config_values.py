"""Checking configuration values: known keys, typed values, secrets by reference.

Shared by config.py and by every provider, so that all configuration errors read alike:
`FILE [TABLE] key: what is wrong; what is expected` (exit code 3).
"""

from __future__ import annotations

import contextlib
import difflib
import grp
import logging
import os
import pwd
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tlsagen.errors import InputError

log = logging.getLogger("tlsagen")
PASSWORD_ENV = "TLSAGEN_KEY_PASSWORD"  # generate's key password
# Variables that hold secrets whatever the configuration says, kept from the commands tlsagen runs.
SECRET_VARIABLES = frozenset(
    {PASSWORD_ENV, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}
)
_named_secrets: set[str] = set()  # variables named by `secret = "env:..."` in this process


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


def _no_nul(value: str, key: str, where: str) -> str:
    """TOML strings may hold NUL, which no path, name or argument can: refuse it here."""
    if "\0" in value:
        raise InputError(f"{where} {key}: the string holds a NUL character (\\u0000)")
    return value


def get_str(
    table: Mapping[str, Any], key: str, where: str, default: str | None = None
) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where} {key}: expected a string, got {type(value).__name__}")
    return value if value is None else _no_nul(value, key, where)


def get_bool(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise InputError(f"{where} {key}: expected true or false, got {value!r}")
    return value


MAX_INT = 2**31 - 1  # the largest TTL (RFC 2181); larger numbers fit no DNS field
MAX_SECONDS = 1e9  # about 30 years; larger durations overflow date arithmetic


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
    if value > MAX_INT:
        raise InputError(f"{where} {key}: expected a number of at most {MAX_INT}, got {value}")
    return value


def get_float(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """A positive number of seconds; NaN and infinity are refused."""
    value = table.get(key, default)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not value > 0:  # NaN > 0 is false: NaN is refused here
        raise InputError(f"{where} {key}: expected a positive number, got {value!r}")
    if value > MAX_SECONDS:
        raise InputError(f"{where} {key}: expected at most {MAX_SECONDS:g} seconds, got {value!r}")
    return float(value)


def get_str_list(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(f"{where} {key}: expected a list of strings")
    return [_no_nul(item, key, where) for item in value]


def resolve_path(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def refuse_shared_directories(path: Path, what: str) -> None:
    """InputError when a directory above `path` lets another user replace it: one writable by
    others, or by a group other than its owner's private one, without the sticky bit; or one
    owned by neither root nor this user.

    Whoever can replace the configuration, a certificate or a key decides which records are
    published; both the path as given and the one its links lead to are checked.
    """
    me = os.geteuid()
    for directory in sorted({*path.absolute().parents, *path.resolve().parents}):
        try:
            info = directory.stat()
        except OSError:
            continue
        shared = stat.S_IWOTH | (0 if _group_of_its_owner(info) else stat.S_IWGRP)
        if info.st_mode & shared and not info.st_mode & stat.S_ISVTX:
            raise InputError(
                f"{what} {path}: directory {directory} is writable by group or others "
                f"(mode {oct(stat.S_IMODE(info.st_mode))}), so another user could replace it; "
                f"run: chmod go-w {directory}"
            )
        if info.st_uid not in (0, me):
            raise InputError(
                f"{what} {path}: directory {directory} belongs to user id {info.st_uid}, "
                "neither root nor you, so that user could replace it; chown it or move the file"
            )


def refuse_same_file(cert: Path, key: Path, where: str) -> None:
    """InputError when `cert` and `key` are one file: the same path, or paths that lead to one
    file through symbolic links (of the files or of directories above them) or hard links."""
    same = os.path.realpath(cert) == os.path.realpath(key)
    with contextlib.suppress(OSError):  # one of them does not exist (yet): not one file
        same = same or os.path.samefile(cert, key)
    if same:
        raise InputError(
            f"{where}: cert {cert} and key {key} are the same file; give two different files "
            "(tlsagen writes the certificate and the key separately)"
        )


def _group_of_its_owner(info: os.stat_result) -> bool:
    """Whether the file's group is its owner's private group (named after the owner, with no
    other members), as Debian and Fedora give each user: writable by it means by the owner."""
    try:
        owner, group = pwd.getpwuid(info.st_uid), grp.getgrgid(info.st_gid)
    except KeyError:
        return False
    return (
        owner.pw_gid == info.st_gid
        and group.gr_name == owner.pw_name
        and set(group.gr_mem) <= {owner.pw_name}
    )


def check_secret_file(path: Path, what: str) -> None:
    """Refuse a file holding a secret or private key in a directory others may write to; warn
    when the file itself is readable by group or others."""
    refuse_shared_directories(path, what)
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


def child_environment() -> dict[str, str]:
    """tlsagen's environment without its secrets: for the reload and check commands it runs,
    which have no use for a TSIG secret, an AWS secret key or a key password."""
    hidden = SECRET_VARIABLES | _named_secrets
    return {name: value for name, value in os.environ.items() if name not in hidden}


def read_secret(reference: str, where: str, base_dir: Path) -> str:
    """The secret named by `env:VAR` or `file:PATH`; never the secret itself in the file."""
    kind, _, name = reference.partition(":")
    if kind == "env" and name:
        _named_secrets.add(name)
        value = os.environ.get(name)
        if value is None:
            raise InputError(f"{where}: environment variable {name} is not set")
        return value.strip()
    if kind == "file" and name:
        path = resolve_path(name, base_dir)
        check_secret_file(path, "secret file")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise InputError(f"{where}: cannot read secret file {path} ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{where}: secret file {path} is not text (UTF-8)") from None
    raise InputError(
        f"{where}: a secret must be given by reference, 'env:VARIABLE' or 'file:PATH' "
        "(never the secret itself)"
    )
