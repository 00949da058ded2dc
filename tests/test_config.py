"""tlsagen.toml parsing: every error names the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlsagen import config
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params
from tlsagen.errors import InputError

EXAMPLE = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"

GOOD = f"""
[defaults]
ttl = 600
params = ["3 1 1", "dane-ee spki sha2-512"]
resolver = "127.0.0.1:5300"

[providers.primary]
type = "rfc2136"
server = "127.0.0.1"

[[services]]
name = "mail"
hosts = ["mx1.example.com", "mx2.example.com"]
ports = [25, 465]
cert = "{EXAMPLE}"
next-key = "next.key"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tlsagen.toml"
    path.write_text(text)
    return path


def test_good_config(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, GOOD))
    (service,) = loaded.services
    assert service.owners == (
        Owner("_25._tcp.mx1.example.com."),
        Owner("_465._tcp.mx1.example.com."),
        Owner("_25._tcp.mx2.example.com."),
        Owner("_465._tcp.mx2.example.com."),
    )
    assert service.params == (Params(3, 1, 1), Params(3, 1, 2))
    assert service.ttl == 600
    assert service.provider == "primary"  # the only provider is the default
    assert service.next_keys == (str(tmp_path / "next.key"),)  # relative to the config file
    assert loaded.resolver is not None and loaded.resolver.port == 5300
    assert loaded.providers["primary"].kind == "rfc2136"
    assert loaded.providers["primary"].settings.options == {"server": "127.0.0.1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\nttl = 60\nparms = 1\n", "unknown key 'parms'; did you mean 'params'?"),
        ("[defaults]\nttl = 'x'\n", "ttl: expected a whole number"),
        ("[defaults\n", "not valid TOML"),
        ("[providers.p]\nserver = '1'\n", "[providers.p]: missing 'type'"),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nname='m'\nhosts=[]\ncert='c'\n",
            "'hosts' must list at least one host name",
        ),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nname='m'\nhosts=['a..b']\ncert='c'\n",
            "host name 'a..b' is not valid",
        ),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nname='m'\nhosts=['a.b']\n",
            "give 'cert'",
        ),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nhosts=['a.b']\ncert='c'\nprovider='q'\n",
            "provider 'q' is not defined (providers: p)",
        ),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nhosts=['a.b']\ncert='c'\n"
            "params=['3 1 9 9']\n",
            "params: parameters '3 1 9 9' must be three fields",
        ),
        (
            "[providers.p]\ntype='rfc2136'\n[[services]]\nname='a'\nhosts=['a.b']\ncert='c'\n"
            "[[services]]\nname='b'\nhosts=['A.b']\ncert='c'\n",
            "owner _25._tcp.a.b. is in both services 'a' and 'b'",
        ),
        ("[defaults]\nresolver = 'nameserver'\n", "'nameserver' is not an IP address"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        config.load(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert caught.value.exit_code == 3


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit.toml"
    monkeypatch.setenv("TLSAGEN_CONFIG", str(tmp_path / "env.toml"))
    assert config.find(explicit) == explicit
    assert config.find(None) == tmp_path / "env.toml"
    monkeypatch.delenv("TLSAGEN_CONFIG")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "")
    assert config.find(None) == Path("tlsagen.toml")


def test_missing_config_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TLSAGEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "SEARCH_PATH", (Path("tlsagen.toml"),))
    with pytest.raises(InputError, match="give --config PATH"):
        config.find(None)
    with pytest.raises(InputError, match="cannot read the configuration"):
        config.load(tmp_path / "absent.toml")


def test_a_zero_ttl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ttl: expected a number of at least 1, got 0"):
        config.load(write(tmp_path, "[defaults]\nttl = 0\n"))
