"""The `[providers.NAME]` table of a PowerDNS provider: pure, no servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tlsagen.errors import InputError
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen_powerdns.settings import Settings

WHERE = "tlsagen.toml [providers.pdns]"
SECRET = "s3cret-api-key-do-not-print"


def parse(base: Path = Path("."), **options: Any) -> Settings:
    table = {key.replace("_", "-"): value for key, value in options.items()}
    return Settings.parse(ProviderSettings("pdns", table, WHERE, base))


@pytest.fixture(autouse=True)
def key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDNS_KEY", SECRET)


def test_defaults() -> None:
    settings = parse(api_url="http://192.0.2.1:8081/", api_key="env:PDNS_KEY")
    assert settings.api_url == "http://192.0.2.1:8081"
    assert settings.api_key == SECRET
    assert settings.server_id == "localhost"
    assert settings.nameservers == (Endpoint("192.0.2.1"),)  # the API host, port 53
    assert settings.timeout == 10.0
    assert SECRET not in repr(settings)


def test_server_and_nameservers() -> None:
    one = parse(api_url="https://pdns.example:8081", api_key="env:PDNS_KEY", server="192.0.2.1:53")
    assert one.nameservers == (Endpoint("192.0.2.1"),)
    several = parse(
        api_url="https://pdns.example",
        api_key="env:PDNS_KEY",
        server="192.0.2.1",
        nameservers=["192.0.2.1", "[2001:db8::1]:5300"],
    )
    assert several.nameservers == (Endpoint("192.0.2.1"), Endpoint("2001:db8::1", 5300))


def test_a_host_name_api_url_needs_server() -> None:
    with pytest.raises(InputError, match=r"set 'server' to the DNS address"):
        parse(api_url="https://pdns.example:8081", api_key="env:PDNS_KEY")


def test_the_key_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pdns.key").write_text(SECRET + "\n")
    (tmp_path / "pdns.key").chmod(0o600)
    settings = parse(tmp_path, api_url="http://127.0.0.1:8081", api_key="file:pdns.key")
    assert settings.api_key == SECRET


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": "env:PDNS_KEY"}, "needs 'api-url'"),
        ({"api_url": "http://127.0.0.1"}, "needs 'api-key'"),
        ({"api_url": "http://127.0.0.1", "api_key": SECRET}, "by reference"),
        ({"api_url": "http://127.0.0.1", "api_key": "env:NOT_SET_HERE"}, "is not set"),
        ({"api_url": "ftp://127.0.0.1", "api_key": "env:PDNS_KEY"}, "expected http://"),
        ({"api_url": "http://u:p@127.0.0.1", "api_key": "env:PDNS_KEY"}, "no user, password"),
        ({"api_url": "http://127.0.0.1:99999", "api_key": "env:PDNS_KEY"}, "bad port"),
        ({"api_url": "http://127.0.0.1", "api_key": "env:PDNS_KEY", "timeout": 0}, "positive"),
        ({"api_url": "http://127.0.0.1", "api_key": "env:PDNS_KEY", "zone": "x."}, "unknown key"),
    ],
)
def test_bad_tables(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse(**options)
    assert SECRET not in str(caught.value)


def test_a_key_of_several_lines_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDNS_KEY", "one\ntwo")
    with pytest.raises(InputError, match="not one line"):
        parse(api_url="http://127.0.0.1", api_key="env:PDNS_KEY")
