"""TSIG keys from BIND key files and certbot-dns-rfc2136 INI files; reprs hide the secret."""

from __future__ import annotations

import base64
import configparser
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import dns.tsig

from tlsagen.provider import InputError, check_keys, check_secret_file

log = logging.getLogger("tlsagen")

DEFAULT_ALGORITHM = "hmac-sha256"
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class _Key(dns.tsig.Key):
    """dnspython's key, whose repr would show the secret."""

    def __repr__(self) -> str:
        return f"<TSIG key {self.name} {self.algorithm}>"


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key. Its repr and str never show the secret."""

    name: str  # absolute, lowercase: "tlsagen-key."
    algorithm: str  # one of ALGORITHMS
    secret: bytes = field(repr=False)

    @classmethod
    def make(cls, name: str, algorithm: str, secret: str, where: str) -> TsigKey:
        """A key from configuration text; InputError (without the secret) if a part is wrong."""
        absolute = _key_name(name, where)
        try:
            decoded = base64.b64decode("".join(secret.split()), validate=True)
        except ValueError:  # binascii.Error, or a character that is not ASCII
            decoded = b""
        if not decoded:
            raise InputError(f"{where}: the secret of key {absolute} is not base64 data")
        return cls(absolute, _algorithm(algorithm, where), decoded)

    def dns_key(self) -> dns.tsig.Key:
        return _Key(self.name, self.secret, ALGORITHMS[self.algorithm])


def _key_name(text: str, where: str) -> str:
    """Absolute and lowercase: servers compare key names without regard to case."""
    try:
        return dns.name.from_text(text).to_text().lower()
    except dns.exception.DNSException:
        raise InputError(f"{where}: key name '{text}' is not a valid DNS name") from None


def _algorithm(text: str, where: str) -> str:
    name = text.strip().lower().rstrip(".").removesuffix(".sig-alg.reg.int")
    if name not in ALGORITHMS:
        known = ", ".join(ALGORITHMS)
        raise InputError(f"{where}: TSIG algorithm '{text}' is not supported (use one of {known})")
    if name == "hmac-md5":
        log.warning("%s: hmac-md5 is deprecated (RFC 8945); switch the key to hmac-sha256", where)
    return name


# Quoted strings first, so that "//" inside a base64 secret is not taken for a comment.
_TOKEN = re.compile(r'"[^"]*"|//[^\n]*|#[^\n]*|/\*.*?\*/|[{};]|[^\s{};"]+|"', re.DOTALL)


def _tokens(text: str) -> Iterator[str]:
    for match in _TOKEN.finditer(text):
        token = match.group()
        if not token.startswith(("//", "#", "/*")):
            yield token


def parse_key_file(text: str, where: str) -> list[TsigKey]:
    """Every `key "NAME" { algorithm ALG; secret "B64"; };` block; other statements are skipped."""
    tokens = _tokens(text)

    def take(after: str) -> str:
        token = next(tokens, None)
        if token is None or token == '"':
            raise InputError(f"{where}: the file ends or a quote is unclosed after {after}")
        return token

    def expect(wanted: str, after: str) -> None:
        if take(after) != wanted:
            raise InputError(f"{where}: expected '{wanted}' after {after}")

    keys = []
    for token in tokens:
        if token.lower() != "key":
            _skip_statement(token, tokens)
            continue
        name = take("'key'").strip('"')
        expect("{", f"key {name}")
        fields: dict[str, str] = {}
        while (word := take(f"key {name}")) != "}":
            label = word if word.isidentifier() else "a field"  # never quote a misplaced secret
            fields[word.lower()] = take(f"{label} in key {name}").strip('"')
            expect(";", f"{label} in key {name}")
        expect(";", f"the block of key {name}")
        if "secret" not in fields:
            raise InputError(f"{where}: key {name} has no secret")
        algorithm = fields.get("algorithm", DEFAULT_ALGORITHM)
        keys.append(TsigKey.make(name, algorithm, fields["secret"], where))
    return keys


def _skip_statement(first: str | None, tokens: Iterator[str]) -> None:
    """Consume a statement that is not a key block, up to its ';' outside braces."""
    depth, token = 0, first
    while token is not None and not (token == ";" and depth == 0):
        depth += {"{": 1, "}": -1}.get(token, 0)
        token = next(tokens, None)


def read_key_file(path: Path, key_name: str | None, where: str) -> TsigKey:
    """The key named `key_name` in a BIND key file, or its only key."""
    check_secret_file(path, "TSIG key file")
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{where} key-file: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{where} key-file: {path} is not a text (UTF-8) key file") from None
    keys = parse_key_file(text, f"{where} key-file {path}")
    names = ", ".join(key.name for key in keys)
    if key_name is None:
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise InputError(f"{where} key-file: {path} holds no key {{ ... }}; block")
        raise InputError(f"{where} key-file: {path} holds several keys ({names}); set key-name")
    wanted = _key_name(key_name, f"{where} key-name")
    for key in keys:
        if key.name == wanted:
            return key
    raise InputError(f"{where} key-name: no key {wanted} in {path} (it holds: {names or 'none'})")


@dataclass(frozen=True)
class Credentials:
    """What a certbot-dns-rfc2136 INI file gives."""

    server: str | None
    port: int
    key: TsigKey


_INI_KEYS = ("server", "port", "name", "secret", "algorithm", "sign_query")


def read_credentials(path: Path, where: str) -> Credentials:
    """A certbot-dns-rfc2136 INI file: `dns_rfc2136_server = ...` lines, secret inline."""
    where = f"{where} credentials {path}"
    check_secret_file(path, "credentials file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string("[ini]\n" + path.read_text(), source=str(path))
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({exc.strerror})") from None
    except (configparser.Error, UnicodeDecodeError):
        raise InputError(f"{where}: not an INI file of 'dns_rfc2136_KEY = value' lines") from None
    values = {key: value.strip().strip("'\"") for key, value in parser["ini"].items()}
    check_keys(values, [f"dns_rfc2136_{key}" for key in _INI_KEYS], where)

    def value(key: str) -> str | None:
        return values.get(f"dns_rfc2136_{key}") or None

    name, secret, port = value("name"), value("secret"), value("port")
    if name is None or secret is None:
        raise InputError(f"{where}: dns_rfc2136_name and dns_rfc2136_secret are required")
    if port is not None and not (re.fullmatch("[0-9]{1,5}", port) and 0 < int(port) < 65536):
        raise InputError(f"{where}: dns_rfc2136_port must be a port number 1-65535")
    key = TsigKey.make(name, value("algorithm") or DEFAULT_ALGORITHM, secret, where)
    return Credentials(value("server"), int(port) if port else 53, key)
