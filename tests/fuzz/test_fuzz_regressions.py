"""Inputs the fuzz targets found that escaped as another exception than a TlsagenError (or hung),
each kept as a plain test."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fuzz.test_fuzz_material import pem
from tlsagen import config, config_values
from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.records import host_name
from tlsagen.core.tlsa import Params, TLSAData
from tlsagen.errors import InputError, ProviderError, UsageError
from tlsagen.provider import ProviderSettings, parse_endpoint
from tlsagen.rollover import state

pytest.importorskip("tlsagen_rfc2136")  # fuzzes this provider's parsers
pytest.importorskip("tlsagen_zonefile")
from tlsagen_rfc2136.config import parse_settings
from tlsagen_rfc2136.keys import TsigKey, read_credentials, read_key_file
from tlsagen_zonefile.lexer import scan

SECRET = base64.b64encode(b"fuzz secret").decode()
DIGITS = "1" * 5000  # int() refuses strings of more than 4300 digits with ValueError


# --- certificates, TLSA text, names, key files, configuration values, zone files -----------------


def _with_version(der: bytes, field: bytes, version: int) -> bytes:
    """`der` with the first INTEGER `field` (its version) set to `version`."""
    at = der.index(field) + len(field) - 1
    return der[:at] + bytes([version]) + der[at + 1 :]


def _bad_versions() -> dict[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    der = serialization.Encoding.DER
    return {
        "CERTIFICATE": _with_version(cert.public_bytes(der), b"\xa0\x03\x02\x01\x02", 41),
        "CERTIFICATE REQUEST": _with_version(csr.public_bytes(der), b"\x02\x01\x00", 5),
    }


@pytest.mark.parametrize("label", ["CERTIFICATE", "CERTIFICATE REQUEST"])
@pytest.mark.parametrize("form", ["DER", "PEM"])
def test_x509_version_that_is_not_defined(label: str, form: str) -> None:
    """cryptography raises x509.InvalidVersion, which is no ValueError (found by atheris)."""
    der = _bad_versions()[label]
    data = der if form == "DER" else pem(label, der)
    with pytest.raises(InputError):
        material.parse("fuzz", data)


@pytest.mark.parametrize(
    "text", [f"{DIGITS} 1 1 {'ab' * 32}", f"3 1 {DIGITS} {'ab' * 32}"], ids=["usage", "type"]
)
def test_tlsa_field_of_thousands_of_digits(text: str) -> None:
    with pytest.raises(UsageError, match="out of range 0-255"):
        TLSAData.from_text(text)


def test_tlsa_fields_with_leading_zeros_still_parse() -> None:
    assert Params.parse("0003 01 0001") == Params(3, 1, 1)


@pytest.mark.parametrize("host", ["mx\n.example.com", "mx.example\n.com"])
def test_host_label_ending_in_a_newline(host: str) -> None:
    with pytest.raises(UsageError, match="may hold only letters"):
        host_name(host)


FileOf = Callable[[bytes], Path]


@pytest.fixture
def file_of(tmp_path: Path) -> FileOf:
    """Write bytes to a file (mode 0600) and give its path."""

    def write(data: bytes) -> Path:
        path = tmp_path / "input"
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    return write


def test_key_file_that_is_not_utf8(file_of: FileOf) -> None:
    with pytest.raises(InputError, match="not a text"):
        read_key_file(file_of(b"\x80"), None, "fuzz")


def test_certbot_ini_that_is_not_utf8(file_of: FileOf) -> None:
    with pytest.raises(InputError, match="not an INI file"):
        read_credentials(file_of(b"\xff\xfe\x00"), "fuzz")


@pytest.mark.parametrize("port", ["\u00b2", DIGITS], ids=["superscript", "digits"])
def test_certbot_ini_port_that_int_refuses(file_of: FileOf, port: str) -> None:
    text = f"dns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\ndns_rfc2136_port = {port}\n"
    with pytest.raises(InputError, match="must be a port number"):
        read_credentials(file_of(text.encode()), "fuzz")


def test_tsig_secret_with_a_character_that_is_not_ascii() -> None:
    with pytest.raises(InputError, match="is not base64 data"):
        TsigKey.make("k", "hmac-sha256", "\u00e9" + SECRET, "fuzz")


def test_secret_file_that_is_not_utf8(file_of: FileOf) -> None:
    path = file_of(b"\xff")
    with pytest.raises(InputError, match="is not text"):
        config_values.read_secret(f"file:{path}", "fuzz", path.parent)


@pytest.mark.parametrize(
    "options",
    [
        {"key-file": "tsig.key\0"},
        {"credentials": "rfc2136.ini\0"},
        {"key-name": "k", "secret": "file:secret\0"},
    ],
)
def test_nul_in_a_path(tmp_path: Path, options: dict[str, str]) -> None:
    with pytest.raises(InputError, match="NUL character"):
        parse_settings(ProviderSettings("dns", options, "fuzz", tmp_path))


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        ({"margin": math.nan}, "expected a positive number, got nan"),
        ({"margin": math.inf}, r"expected at most 1e\+09 seconds, got inf"),
        ({"margin": 1e300}, r"expected at most 1e\+09 seconds, got 1e\+300"),
        ({"ttl": 2**40}, "expected a number of at most 2147483647"),
        ({"state": "state\0.json"}, "NUL character"),
    ],
)
def test_config_values_that_later_crash(
    tmp_path: Path, defaults: dict[str, object], message: str
) -> None:
    """NaN, infinite or huge durations made timedelta() fail at the gate; a TTL over 2**32 made
    the DNS UPDATE fail to encode; a NUL made every file operation raise ValueError."""
    with pytest.raises(InputError, match=message):
        config.parse({"defaults": defaults}, tmp_path / "tlsagen.toml")


def test_zone_file_unterminated_quote_does_not_backtrack() -> None:
    """The quoted-string pattern could split a run of characters in 2**n ways: 40 characters
    after an unterminated quote took days."""
    started = time.monotonic()
    with pytest.raises(ProviderError, match="unterminated quoted string"):
        scan('mail TXT "' + "a b " * 10_000 + "\n", "fuzz")
    assert time.monotonic() - started < 1


# --- config, endpoints, check targets, state --------------------------------------------------


@pytest.mark.parametrize(
    "text", ["127.0.0.1:\u00b2", f"[::1]:{DIGITS}"], ids=["superscript", "digits"]
)
def test_endpoint_port_that_int_refuses(text: str) -> None:
    with pytest.raises(InputError):
        parse_endpoint(text, "fuzz")


def test_check_target_port_that_int_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "mx.example.com:\u00b2"]) == 2
    assert "internal error" not in capsys.readouterr().err


def test_config_that_is_not_utf8(file_of: FileOf) -> None:
    with pytest.raises(InputError):
        config.load(file_of(b"[defaults]\nttl = 60 # \xff\n"))


def test_config_nested_deeper_than_the_recursion_limit(file_of: FileOf) -> None:
    with pytest.raises(InputError):
        config.load(file_of(b"a = " + b"[" * 100_000))


def test_state_file_that_is_not_utf8(file_of: FileOf) -> None:
    with pytest.raises(InputError):
        state.load(file_of(b"\xff"))


def test_state_with_an_infinite_ttl() -> None:
    with pytest.raises(InputError):
        state.parse('{"version": 1, "services": {"mail": {"ttl": Infinity}}}', "fuzz")


def test_state_nested_deeper_than_the_recursion_limit() -> None:
    with pytest.raises(InputError):
        state.parse("[" * 100_000, "fuzz")
