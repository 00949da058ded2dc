"""The `[providers.NAME]` table of `type = "powerdns"`, checked. Sends nothing."""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

from tlsagen.provider import (
    Endpoint,
    InputError,
    ProviderSettings,
    check_keys,
    get_float,
    get_str,
    get_str_list,
    parse_endpoint,
    read_secret,
)

KEYS = ("api-url", "api-key", "server-id", "server", "nameservers", "timeout")
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    where: str  # "tlsagen.toml [providers.NAME]", for error messages
    api_url: str  # scheme://host[:port], without a trailing slash or path
    api_key: str  # the secret itself: never in a message
    server_id: str  # "localhost" on every PowerDNS Authoritative server
    nameservers: tuple[Endpoint, ...]  # polled until they serve a change
    timeout: float  # seconds for one HTTP exchange, connect to last byte

    def __repr__(self) -> str:  # keeps the API key out of tracebacks and debug output
        return f"Settings(where={self.where!r}, api_url={self.api_url!r}, ...)"

    @classmethod
    def parse(cls, settings: ProviderSettings) -> Settings:
        options, where = settings.options, settings.where
        check_keys(options, KEYS, where)
        api_url = _api_url(get_str(options, "api-url", where), where)
        reference = get_str(options, "api-key", where)
        if reference is None:
            raise InputError(
                f"{where}: needs 'api-key', a reference to the PowerDNS API key: "
                "'env:VARIABLE' or 'file:PATH'"
            )
        api_key = read_secret(reference, f"{where} api-key", settings.base_dir)
        if not api_key or not api_key.isprintable():
            raise InputError(f"{where} api-key: the key it names is empty or not one line of text")
        return cls(
            where=where,
            api_url=api_url,
            api_key=api_key,
            server_id=get_str(options, "server-id", where, "localhost") or "localhost",
            nameservers=_nameservers(settings, api_url),
            timeout=get_float(options, "timeout", where, DEFAULT_TIMEOUT),
        )


def _api_url(text: str | None, where: str) -> str:
    if text is None:
        raise InputError(f"{where}: needs 'api-url', the PowerDNS webserver (http://HOST:PORT)")
    url = urllib.parse.urlsplit(text.strip())
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InputError(f"{where} api-url: expected http://HOST:PORT or https://HOST:PORT")
    if url.username or url.password or url.query or url.fragment:
        raise InputError(f"{where} api-url: no user, password, query or fragment, only the server")
    try:
        url.port  # noqa: B018 - parses the port, ValueError when it is not one
    except ValueError:
        raise InputError(f"{where} api-url: '{text}' has a bad port") from None
    return f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}"


def _nameservers(settings: ProviderSettings, api_url: str) -> tuple[Endpoint, ...]:
    """`nameservers`, else `server`, else the API host on port 53 when it is an IP address."""
    options, where = settings.options, settings.where
    listed = get_str_list(options, "nameservers", where)
    if listed:
        return tuple(parse_endpoint(text, f"{where} nameservers") for text in listed)
    server = get_str(options, "server", where)
    if server is not None:
        return (parse_endpoint(server, f"{where} server"),)
    host = urllib.parse.urlsplit(api_url).hostname or ""
    try:
        return (Endpoint(str(ipaddress.ip_address(host))),)
    except ValueError:
        raise InputError(
            f"{where}: set 'server' to the DNS address of the PowerDNS server (IP[:PORT]), "
            f"which tlsagen polls until it serves a change (the api-url host {host} is not an "
            "IP address)"
        ) from None
