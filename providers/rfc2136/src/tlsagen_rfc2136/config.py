"""The `[providers.NAME]` table of `type = "rfc2136"`, checked into a frozen Config."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name

from tlsagen.provider import (
    Endpoint,
    InputError,
    ProviderSettings,
    check_keys,
    get_float,
    get_int,
    get_str,
    get_str_list,
    parse_endpoint,
    read_secret,
    resolve_path,
)
from tlsagen_rfc2136.keys import (
    DEFAULT_ALGORITHM,
    Credentials,
    TsigKey,
    read_credentials,
    read_key_file,
)

KEYS = (
    "server",
    "port",
    "zone",
    "key-file",
    "key-name",
    "algorithm",
    "secret",
    "credentials",
    "timeout",
    "nameservers",
)
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Config:
    key: TsigKey
    server: Endpoint | None  # None: the address of the zone's SOA MNAME
    port: int  # of the SOA MNAME's address when `server` is not set
    zone: str | None  # None: find each owner's zone
    timeout: float
    nameservers: tuple[Endpoint, ...]  # empty: every address of the zone's NS set
    resolver: Endpoint | None  # None: the system resolver
    where: str


def parse_settings(settings: ProviderSettings) -> Config:
    options, where = settings.options, settings.where
    check_keys(options, KEYS, where)
    credentials = _credentials(settings)
    # Explicit keys win over the INI file's server and port.
    port = get_int(options, "port", where, minimum=1) or (credentials.port if credentials else 53)
    if port > 65535:
        raise InputError(f"{where} port: expected a port number 1-65535, got {port}")
    server = get_str(options, "server", where) or (credentials.server if credentials else None)
    return Config(
        key=credentials.key if credentials else _key(settings),
        server=parse_endpoint(server, f"{where} server", port) if server else None,
        port=port,
        zone=_zone(get_str(options, "zone", where), where),
        timeout=get_float(options, "timeout", where, DEFAULT_TIMEOUT),
        nameservers=tuple(
            parse_endpoint(text, f"{where} nameservers")
            for text in get_str_list(options, "nameservers", where)
        ),
        resolver=settings.resolver,
        where=where,
    )


def _credentials(settings: ProviderSettings) -> Credentials | None:
    options, where = settings.options, settings.where
    path = get_str(options, "credentials", where)
    if path is None:
        return None
    clash = [key for key in ("key-file", "key-name", "algorithm", "secret") if key in options]
    if clash:
        raise InputError(
            f"{where}: '{clash[0]}' cannot be combined with 'credentials', which holds the key"
        )
    return read_credentials(resolve_path(path, settings.base_dir), where)


def _key(settings: ProviderSettings) -> TsigKey:
    options, where = settings.options, settings.where
    key_file = get_str(options, "key-file", where)
    key_name = get_str(options, "key-name", where)
    secret = get_str(options, "secret", where)
    if key_file is not None:
        clash = [key for key in ("secret", "algorithm") if key in options]
        if clash:
            raise InputError(f"{where}: '{clash[0]}' comes from the key file; remove it")
        return read_key_file(resolve_path(key_file, settings.base_dir), key_name, where)
    if secret is None or key_name is None:
        raise InputError(
            f"{where}: needs a TSIG key: 'key-file' (a BIND key file), 'key-name' + 'secret' "
            "(env:VARIABLE or file:PATH), or 'credentials' (a certbot-dns-rfc2136 INI file)"
        )
    algorithm = get_str(options, "algorithm", where, DEFAULT_ALGORITHM) or DEFAULT_ALGORITHM
    value = read_secret(secret, f"{where} secret", settings.base_dir)
    return TsigKey.make(key_name, algorithm, value, where)


def _zone(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    try:
        return dns.name.from_text(text).to_text().lower()
    except dns.exception.DNSException:
        raise InputError(f"{where} zone: '{text}' is not a valid DNS name") from None
