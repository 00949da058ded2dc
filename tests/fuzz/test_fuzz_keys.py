"""BIND key files and certbot-dns-rfc2136 INI files (tlsagen_rfc2136.keys) on hostile text."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated, mutated_text, reads_or_refuses, spliced_lines

pytest.importorskip("tlsagen_rfc2136")  # fuzzes this provider's parsers
from tlsagen_rfc2136.keys import parse_key_file, read_credentials, read_key_file

SECRET = base64.b64encode(b"\xff\xfe" * 16).decode()
KEY_FILES = [
    f'key "tlsagen-key." {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n',
    f'// comment\nkey k {{ algorithm HMAC-MD5.SIG-ALG.REG.INT; secret "{SECRET}"; }};\n'
    '/* block */ options { directory "/tmp"; };\n# hash comment\n'
    f'key "b" {{ secret "{SECRET[:20]}" ; }};\n',
]
INI_FILES = [
    "dns_rfc2136_server = 192.0.2.53\ndns_rfc2136_port = 53\n"
    f"dns_rfc2136_name = tlsagen-key.\ndns_rfc2136_secret = {SECRET}\n"
    "dns_rfc2136_algorithm = HMAC-SHA512\n",
    f"# comment\ndns_rfc2136_name: k\ndns_rfc2136_secret = '{SECRET}'\ndns_rfc2136_port = 5353\n",
]
WORDS = ["key", "KEY", '"k"', "k.", "{", "}", ";", "algorithm", "secret", f'"{SECRET}"', '"']
WORDS += ["hmac-sha1", "options", "//", "/*", "*/", "#", "\n", "\\", "..", '"a b"', "\x00"]
TOKENS = st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=40).map(" ".join)
KEY_TEXT = st.text(max_size=300) | mutated_text(KEY_FILES) | spliced_lines(KEY_FILES) | TOKENS
PORTS = st.sampled_from(["0", "65536", "²", "1" * 5000, "0053"]) | st.text(max_size=6)
INI_TEXT = (
    mutated([text.encode() for text in INI_FILES] + [b"[section]\nx = 1\n", b"\xff\xfe\x00"])
    | spliced_lines(INI_FILES).map(str.encode)
    | PORTS.map(
        lambda port: (
            f"dns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\n"
            f"dns_rfc2136_port = {port}\n".encode()
        )
    )
)


@FUZZ
@given(text=KEY_TEXT)
def test_key_file_text(text: str) -> None:
    keys = reads_or_refuses(parse_key_file, text, "fuzz")
    for key in keys or []:
        assert key.secret and key.name.endswith(".")
        assert SECRET not in repr(key)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@FUZZ
@given(data=KEY_TEXT.map(lambda text: text.encode("utf-8", "surrogateescape")) | st.binary())
def test_key_file_bytes(directory: Path, data: bytes) -> None:
    """Through the file, as the provider reads it: undecodable bytes included."""
    path = directory / "tsig.key"
    path.write_bytes(data)
    path.chmod(0o600)
    reads_or_refuses(read_key_file, path, None, "fuzz")


@FUZZ
@given(data=INI_TEXT)
def test_certbot_ini(directory: Path, data: bytes) -> None:
    path = directory / "rfc2136.ini"
    path.write_bytes(data)
    path.chmod(0o600)
    credentials = reads_or_refuses(read_credentials, path, "fuzz")
    if credentials is not None:
        assert 0 < credentials.port < 65536 and credentials.key.secret
