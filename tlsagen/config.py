"""tlsagen.toml -> frozen dataclasses. Every error names the file, the key and what is expected."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tlsagen.config_values import (
    check_keys,
    get_bool,
    get_float,
    get_int,
    get_str,
    get_str_list,
    refuse_same_file,
    refuse_shared_directories,
    resolve_path,
)
from tlsagen.core.endpoint import Endpoint, parse_endpoint
from tlsagen.core.records import PROTOCOLS, Owner
from tlsagen.core.tlsa import DEFAULT_PARAMS, MatchingType, Params, Selector, Usage
from tlsagen.errors import InputError, TlsagenError
from tlsagen.registry import ProviderSettings

CONFIG_ENV = "TLSAGEN_CONFIG"
SEARCH_PATH = (Path("tlsagen.toml"), Path("/etc/tlsagen/tlsagen.toml"))
DEFAULT_TTL = 3600

_DEFAULTS_KEYS = ("ttl", "params", "provider", "resolver", "state", "margin")
_SERVICE_KEYS = (
    "name",
    "hosts",
    "ports",
    "proto",
    "cert",
    "key",
    "next-key",
    "params",
    "ttl",
    "provider",
    "deploy",
    "probe",
    "starttls",
)
STARTTLS = ("smtp", "imap", "pop3", "none")
_DEPLOY_KEYS = ("cert", "key", "reload", "timeout")
DEFAULT_RELOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class ProviderConfig:
    kind: str  # the provider type: "rfc2136", "route53", ...
    settings: ProviderSettings


@dataclass(frozen=True)
class Deploy:
    """Where the server reads its certificate and key (written only by tlsagen), how to reload."""

    cert: Path  # the full chain, leaf first
    key: Path
    reload: tuple[str, ...]  # argv, run without a shell
    timeout: float = DEFAULT_RELOAD_TIMEOUT


@dataclass(frozen=True)
class Service:
    """A set of TLSA owners that share key material."""

    name: str
    owners: tuple[Owner, ...]
    current: tuple[str, ...]  # sources of the key(s) the server presents now
    next_keys: tuple[str, ...]  # sources of pre-generated next keys
    params: tuple[Params, ...]
    ttl: int
    provider: str
    private_key: str | None = None  # `key` when `cert` is given too: the certificate's key
    deploy: Deploy | None = None  # tlsagen installs `current` here once its gate has passed
    probe: bool = True  # under rollover, connect to every address to see the key it presents
    starttls: str | None = None  # "smtp", "imap", "pop3" or "none" (None: by port)
    current_setting: str = "cert"  # the key `current` came from, for error messages


@dataclass(frozen=True)
class Config:
    path: Path
    resolver: Endpoint | None
    providers: Mapping[str, ProviderConfig]
    services: tuple[Service, ...]
    state: Path | None = None  # the state file (None: the default for this user)
    margin: float | None = None  # seconds added to the deploy wait (None: the default)


def find(explicit: Path | None) -> Path:
    """--config, then $TLSAGEN_CONFIG, then ./tlsagen.toml, then /etc/tlsagen/tlsagen.toml."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for candidate in SEARCH_PATH:
        if candidate.is_file():
            return candidate
    raise InputError(
        "no configuration: give --config PATH, set TLSAGEN_CONFIG, or create ./tlsagen.toml "
        "(see docs/configuration.md)"
    )


def load(path: Path) -> Config:
    refuse_shared_directories(path, "configuration")
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the configuration is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid TOML (nested too deeply)") from None
    return parse(data, path)


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a table")
    return value


def _params(values: list[str], where: str) -> tuple[Params, ...]:
    """The parameter sets of a `params` list; each must be one tlsagen can compute records for."""
    try:
        parsed = tuple(Params.parse(text) for text in values)
    except TlsagenError as exc:
        raise InputError(f"{where} params: {exc}") from None
    for text, chosen in zip(values, parsed, strict=True):
        for kind, value, name in (
            (Usage, chosen.usage, "usage"),
            (Selector, chosen.selector, "selector"),
            (MatchingType, chosen.matching_type, "matching type"),
        ):
            defined = [member.value for member in kind]
            if value not in defined:
                raise InputError(
                    f"{where} params: '{text}': {name} {value} is not defined "
                    f"(use {', '.join(map(str, defined))})"
                )
    return parsed


def parse(data: Mapping[str, Any], path: Path) -> Config:
    check_keys(data, ("defaults", "providers", "services"), f"{path}")
    base_dir = path.parent
    defaults = _table(data.get("defaults", {}), f"{path} [defaults]")
    where = f"{path} [defaults]"
    check_keys(defaults, _DEFAULTS_KEYS, where)
    ttl = get_int(defaults, "ttl", where, DEFAULT_TTL, minimum=1) or DEFAULT_TTL
    params = _params(get_str_list(defaults, "params", where), where) or (DEFAULT_PARAMS,)
    resolver_text = get_str(defaults, "resolver", where)
    resolver = parse_endpoint(resolver_text, f"{where} resolver") if resolver_text else None
    state_text = get_str(defaults, "state", where)
    state = resolve_path(state_text, base_dir) if state_text else None
    margin = get_float(defaults, "margin", where, 0.0) if "margin" in defaults else None

    providers = {}
    for name, raw in _table(data.get("providers", {}), f"{path} [providers]").items():
        where = f"{path} [providers.{name}]"
        table = _table(raw, where)
        kind = get_str(table, "type", where)
        if not kind:
            raise InputError(f'{where}: missing \'type\' (for example "rfc2136" or "route53")')
        options = {k: v for k, v in table.items() if k != "type"}
        settings = ProviderSettings(name, options, where, base_dir, resolver)
        providers[name] = ProviderConfig(kind, settings)
    default_provider = get_str(defaults, "provider", f"{path} [defaults]")
    if default_provider is None and len(providers) == 1:
        default_provider = next(iter(providers))

    raw_services = data.get("services", [])
    if not isinstance(raw_services, list):
        raise InputError(f"{path} services: expected [[services]] tables")
    services = tuple(
        _service(_table(raw, f"{path} [[services]] #{i + 1}"), i, path, ttl, params)
        for i, raw in enumerate(raw_services)
    )
    seen: dict[Owner, str] = {}
    for service in services:
        provider = service.provider or default_provider or ""
        if provider not in providers:
            known = ", ".join(providers) or "none configured"
            raise InputError(
                f"{path} [[services]] {service.name}: provider '{provider}' is not defined "
                f"(providers: {known})"
            )
        for owner in service.owners:
            if owner in seen:
                raise InputError(
                    f"{path}: owner {owner} is in both services '{seen[owner]}' and "
                    f"'{service.name}'; give each owner to one service"
                )
            seen[owner] = service.name
    services = tuple(replace(s, provider=s.provider or default_provider or "") for s in services)
    return Config(path, resolver, providers, services, state, margin)


def _service(
    table: dict[str, Any], index: int, path: Path, ttl: int, params: tuple[Params, ...]
) -> Service:
    where = f"{path} [[services]] #{index + 1}"
    check_keys(table, _SERVICE_KEYS, where)
    name = get_str(table, "name", where) or f"service-{index + 1}"
    where = f"{path} [[services]] {name}"
    hosts = get_str_list(table, "hosts", where)
    if not hosts:
        raise InputError(f"{where}: 'hosts' must list at least one host name")
    ports = table.get("ports", [25])
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in ports
    ):
        raise InputError(f"{where} ports: expected a list of port numbers, like [25, 465]")
    proto = get_str(table, "proto", where, "tcp") or "tcp"
    if proto not in PROTOCOLS:
        raise InputError(f"{where} proto: expected one of {', '.join(PROTOCOLS)}")
    try:
        owners = tuple(Owner.for_service(h, p, proto) for h in hosts for p in ports)
    except TlsagenError as exc:
        raise InputError(f"{where}: {exc}") from None
    current = get_str_list(table, "cert", where) or get_str_list(table, "key", where)
    if not current:
        raise InputError(f"{where}: give 'cert' (certificate, chain or lineage dir) or 'key'")
    next_keys = get_str_list(table, "next-key", where)
    base = path.parent
    for source in (*current, *next_keys):
        if source != "-":
            refuse_shared_directories(resolve_path(source, base), f"{where}:")
    keys = get_str_list(table, "key", where)
    private_key = str(resolve_path(keys[0], base)) if len(keys) == 1 and current != keys else None
    deploy = _deploy(table.get("deploy"), f"{where} deploy", base) if "deploy" in table else None
    if deploy is not None and len(current) != 1:
        raise InputError(f"{where}: 'deploy' needs exactly one 'cert' (the certificate to install)")
    return Service(
        name=name,
        owners=owners,
        current=tuple(str(resolve_path(s, base)) for s in current),
        next_keys=tuple(str(resolve_path(s, base)) for s in next_keys),
        params=_params(get_str_list(table, "params", where), where) or params,
        ttl=get_int(table, "ttl", where, ttl, minimum=1) or ttl,
        provider=get_str(table, "provider", where) or "",
        private_key=private_key,
        deploy=deploy,
        probe=get_bool(table, "probe", where, True),
        starttls=_starttls(table, where),
        current_setting="cert" if "cert" in table else "key",
    )


def _starttls(table: dict[str, Any], where: str) -> str | None:
    value = get_str(table, "starttls", where)
    if value is not None and value not in STARTTLS:
        raise InputError(f"{where} starttls: expected one of {', '.join(STARTTLS)}")
    return value


def _deploy(value: Any, where: str, base: Path) -> Deploy:
    table = _table(value, where)
    check_keys(table, _DEPLOY_KEYS, where)
    cert, key = get_str(table, "cert", where), get_str(table, "key", where)
    if isinstance(table.get("reload"), str):
        raise InputError(
            f'{where} reload: give the command as a list, e.g. ["postfix", "reload"]; '
            "it is run without a shell"
        )
    reload = get_str_list(table, "reload", where)
    if not cert or not key or not reload:
        raise InputError(
            f"{where}: give cert and key (the paths the server reads) and reload (a command as "
            'a list, e.g. ["systemctl", "reload", "postfix"])'
        )
    cert_path, key_path = resolve_path(cert, base), resolve_path(key, base)
    refuse_same_file(cert_path, key_path, where)
    timeout = get_float(table, "timeout", where, DEFAULT_RELOAD_TIMEOUT)
    return Deploy(cert_path, key_path, tuple(reload), timeout)
