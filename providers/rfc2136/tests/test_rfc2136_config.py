"""Key files, certbot INI files and the provider's configuration table: pure, no servers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import dns.tsig
import pytest

from tlsagen.errors import InputError
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen_rfc2136.config import Config, parse_settings
from tlsagen_rfc2136.keys import TsigKey, parse_key_file, read_credentials, read_key_file

SECRET = base64.b64encode(b"\xff\xff\xfe" * 10 + b"\x00\x01").decode()  # has "//" in base64
OTHER = base64.b64encode(b"other secret").decode()
WHERE = "tlsagen.toml [providers.dns]"


def key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tsig.key"
    path.write_text(text)
    path.chmod(0o600)
    return path


def settings(tmp_path: Path, **options: Any) -> ProviderSettings:
    return ProviderSettings("dns", options, WHERE, tmp_path, Endpoint("127.0.0.2", 5353))


def test_secret_of_the_fixture_holds_a_comment_marker() -> None:
    assert "//" in SECRET


def test_key_file_with_every_comment_kind_and_several_keys() -> None:
    text = f"""// written by hand
    # another comment
    /* a block
       comment */
    key "first." {{ algorithm hmac-sha512; secret "{SECRET}"; }};  // trailing
    options {{ directory "/tmp"; }};
    key second {{
        algorithm HMAC-SHA256;   # upper case is fine
        secret "{OTHER}";
    }};
    """
    keys = parse_key_file(text, "f")
    assert [(k.name, k.algorithm) for k in keys] == [
        ("first.", "hmac-sha512"),
        ("second.", "hmac-sha256"),
    ]
    assert keys[0].secret == base64.b64decode(SECRET)


def test_key_without_algorithm_defaults_to_hmac_sha256() -> None:
    (key,) = parse_key_file(f'key k {{ secret "{SECRET}"; }};', "f")
    assert key.algorithm == "hmac-sha256"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('key "k" { algorithm hmac-sha256; };', "key k has no secret"),
        ('key "k" { secret "not base64!"; };', "is not base64"),
        ('key "k" { algorithm hmac-sha9; secret "AAAA"; };', "hmac-sha9' is not supported"),
        ('key "k" { secret "AAAA" };', "expected ';' after secret in key k"),
        ('key "k" { secret "AAAA; };', "quote is unclosed"),
        ('key "k" { secret "AAAA"; }', "the file ends"),
        ('key "k" { "AAAA"; };', "expected ';' after a field in key k"),
    ],
)
def test_bad_key_blocks_are_explained_without_the_secret(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_key_file(text, "f")
    assert "AAAA" not in str(caught.value)


def test_key_file_picks_by_name_or_needs_one(tmp_path: Path) -> None:
    path = key_file(
        tmp_path, f'key "a." {{ secret "{SECRET}"; }}; key "b." {{ secret "{OTHER}"; }};'
    )
    assert read_key_file(path, "b", WHERE).secret == b"other secret"
    with pytest.raises(InputError, match=r"several keys \(a\., b\.\); set key-name"):
        read_key_file(path, None, WHERE)
    with pytest.raises(InputError, match=r"no key c\. in .* \(it holds: a\., b\.\)"):
        read_key_file(path, "c", WHERE)
    with pytest.raises(InputError, match="holds no key"):
        read_key_file(key_file(tmp_path, "// empty\n"), None, WHERE)


def test_exposed_key_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = key_file(tmp_path, f'key "a." {{ secret "{SECRET}"; }};')
    path.chmod(0o644)
    read_key_file(path, None, WHERE)
    assert "readable by group or others" in caplog.text


def test_hmac_md5_only_when_asked_and_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    (key,) = parse_key_file(
        f'key k {{ algorithm hmac-md5.sig-alg.reg.int; secret "{SECRET}"; }};', "f"
    )
    assert key.algorithm == "hmac-md5"
    assert key.dns_key().algorithm == dns.tsig.HMAC_MD5
    assert "hmac-md5 is deprecated" in caplog.text


def test_key_reprs_hide_the_secret() -> None:
    key = TsigKey.make("k", "hmac-sha256", SECRET, "f")
    for text in (repr(key), str(key), repr(key.dns_key()), str(key.dns_key())):
        assert SECRET not in text
        assert str(key.secret) not in text
    assert key.dns_key().secret == base64.b64decode(SECRET)


def ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rfc2136.ini"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_certbot_ini(tmp_path: Path) -> None:
    path = ini(
        tmp_path,
        f"""# Target DNS server
dns_rfc2136_server = 192.0.2.53
dns_rfc2136_port = 5353
dns_rfc2136_name = certbot.
dns_rfc2136_secret = "{SECRET}"
dns_rfc2136_algorithm = HMAC-SHA512
dns_rfc2136_sign_query = false
""",
    )
    credentials = read_credentials(path, WHERE)
    assert (credentials.server, credentials.port) == ("192.0.2.53", 5353)
    assert (credentials.key.name, credentials.key.algorithm) == ("certbot.", "hmac-sha512")


def test_certbot_ini_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InputError, match="dns_rfc2136_name and dns_rfc2136_secret are required"):
        read_credentials(ini(tmp_path, "dns_rfc2136_server = 192.0.2.53\n"), WHERE)
    with pytest.raises(InputError, match="did you mean 'dns_rfc2136_secret'"):
        read_credentials(ini(tmp_path, "dns_rfc2136_secrte = x\n"), WHERE)
    path = ini(tmp_path, f"dns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\n")
    path.chmod(0o640)
    assert read_credentials(path, WHERE).port == 53
    assert "credentials file" in caplog.text and "readable by group or others" in caplog.text


def test_settings_with_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, f'key "tlsagen." {{ algorithm hmac-sha512; secret "{SECRET}"; }};')
    config = parse_settings(
        settings(
            tmp_path,
            **{"key-file": path.name, "server": "192.0.2.1", "port": 5300, "zone": "Example.COM"},
        )
    )
    assert config == Config(
        key=TsigKey("tlsagen.", "hmac-sha512", base64.b64decode(SECRET)),
        server=Endpoint("192.0.2.1", 5300),
        port=5300,
        zone="example.com.",
        timeout=10.0,
        nameservers=(),
        resolver=Endpoint("127.0.0.2", 5353),
        where=WHERE,
    )
    assert SECRET not in repr(config)


def test_settings_with_secret_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSIG_SECRET", SECRET)
    config = parse_settings(
        settings(
            tmp_path,
            **{
                "key-name": "k",
                "secret": "env:TSIG_SECRET",
                "server": "[2001:db8::1]:5353",
                "timeout": 2.5,
                "nameservers": ["192.0.2.1", "192.0.2.2:5300"],
            },
        )
    )
    assert config.key.algorithm == "hmac-sha256"
    assert config.server == Endpoint("2001:db8::1", 5353)
    assert config.timeout == 2.5
    assert config.nameservers == (Endpoint("192.0.2.1"), Endpoint("192.0.2.2", 5300))


def test_settings_with_credentials(tmp_path: Path) -> None:
    path = ini(
        tmp_path,
        f"dns_rfc2136_server = 192.0.2.9\ndns_rfc2136_port = 5353\n"
        f"dns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\n",
    )
    config = parse_settings(settings(tmp_path, credentials=str(path)))
    assert config.server == Endpoint("192.0.2.9", 5353)
    config = parse_settings(settings(tmp_path, credentials=str(path), server="192.0.2.1"))
    assert config.server == Endpoint("192.0.2.1", 5353)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs a TSIG key: 'key-file'"),
        ({"key-name": "k"}, "needs a TSIG key"),
        ({"key-name": "k", "secret": SECRET}, "by reference"),
        ({"key-file": "k.key", "algorithm": "hmac-sha1"}, "'algorithm' comes from the key file"),
        ({"credentials": "x.ini", "key-name": "k"}, "'key-name' cannot be combined"),
        ({"key-fiel": "k.key"}, "unknown key 'key-fiel'; did you mean 'key-file'"),
        ({"key-file": "missing.key"}, "cannot read"),
        ({"key-file": "k.key", "server": "ns1.example.com"}, "not an IP address"),
        ({"key-file": "k.key", "port": 70000}, "port number 1-65535"),
        ({"key-file": "k.key", "timeout": 0}, "positive number"),
        ({"key-file": "k.key", "zone": "a..b"}, "zone: 'a..b' is not a valid DNS name"),
    ],
)
def test_settings_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    key_file(tmp_path, f'key "k." {{ secret "{SECRET}"; }};').rename(tmp_path / "k.key")
    with pytest.raises(InputError, match=message) as caught:
        parse_settings(settings(tmp_path, **options))
    assert str(caught.value).startswith(WHERE)
    assert SECRET not in str(caught.value)
