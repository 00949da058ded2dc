"""Read certificates, chains, keys and CSRs into the bytes a TLSA record is computed from.

Pure functions over bytes, plus `read_source` (the one place that touches files). The SPKI hashed
for selector 1 is the SubjectPublicKeyInfo exactly as it stands inside the certificate or CSR; only
bare private keys and PKCS#1 public keys, which hold no SPKI, have theirs encoded here.

Certificates are read by a strict DER walker (`read_certificate`) that accepts only a plain subset
of what cryptography accepts: DER with a v1 or v3 structure, the common signature algorithms, an
RSA, EC P-256/384/521 (point on the curve), Ed25519 or Ed448 key. Whatever lies outside that
subset, damaged input included, is read by cryptography as before, with its errors; cryptography
is imported only then, and for keys and CSRs (importing it is a large part of a cold
`tlsagen generate`; benchmarks/generate.py).
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tlsagen.config_values import check_secret_file
from tlsagen.errors import InputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    PublicKey = (
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
    )

MAX_SOURCE_BYTES = 1024 * 1024
SUPPORTED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)(?:-----END \1-----|\Z)", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",  # read only to be reported as an unsupported key type
}
_PUBLIC_LABELS = {b"PUBLIC KEY", b"RSA PUBLIC KEY"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_IGNORED_LABELS = {b"EC PARAMETERS"}


@dataclass(frozen=True)
class Material:
    """The key material of one source: its end-entity SPKI and, for certificates, the chain."""

    source: str
    kind: str  # "certificate", "private key", "public key" or "certificate request"
    spki: bytes  # DER SubjectPublicKeyInfo of the end entity
    chain: tuple[bytes, ...]  # DER certificates as given, leaf first; empty for bare keys
    key_type: str  # "RSA 2048", "EC P-256", "Ed25519", "Ed448"
    warnings: tuple[str, ...] = ()

    @property
    def leaf(self) -> bytes | None:
        return self.chain[0] if self.chain else None


def _bad(source: str, problem: str, hint: str) -> InputError:
    return InputError(f"{source}: {problem}; {hint}")


# --- DER walking (just enough to find the SubjectPublicKeyInfo inside a structure) ---------------


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, start of content, end of content) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, element start, element end) of each element inside a constructed value."""
    elements = []
    pos = start
    while pos < end:
        tag, content_start, content_end = _tlv(data, pos)
        elements.append((tag, pos, content_end))
        del content_start
        pos = content_end
    return elements


def spki_of_certificate(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo bytes as they stand in a DER certificate."""
    _, start, end = _tlv(der, 0)
    _, tbs_start, tbs_end = _tlv(der, start)
    fields = _children(der, tbs_start, tbs_end)
    skip = 1 if fields and fields[0][0] == 0xA0 else 0  # explicit [0] version
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    _, spki_start, spki_end = fields[skip + 5]
    del end
    return der[spki_start:spki_end]


def spki_of_csr(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo bytes as they stand in a DER PKCS#10 request."""
    _, start, _ = _tlv(der, 0)
    _, info_start, info_end = _tlv(der, start)
    # version, subject, subjectPKInfo, attributes
    _, spki_start, spki_end = _children(der, info_start, info_end)[2]
    return der[spki_start:spki_end]


# --- the strict certificate walker ------------------------------------------------------------

_SEQUENCE, _SET, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
# Numeric, Printable, Teletex, IA5, Visible, Universal, UTF8 and BMP strings: an attribute's value
_STRINGS = {0x12, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x0C, 0x1E}
_VERSION_3 = bytes.fromhex("a003020102")
_EXTENSIONS = 0xA3
_BASIC_CONSTRAINTS = bytes.fromhex("551d13")
_SIGNATURE_ALGORITHMS = (
    {  # AlgorithmIdentifier DER, as RFC 4055, 5758 and 8410 encode them
        bytes.fromhex("300d06092a864886f70d0101" + number + "0500")
        for number in ("05", "0b", "0c", "0d")  # sha1, sha256, sha384, sha512 WithRSAEncryption
    }
    | {
        bytes.fromhex("300a06082a8648ce3d0403" + number)
        for number in ("02", "03", "04")  # ecdsa-with-SHA256, -SHA384, -SHA512
    }
    | {bytes.fromhex("300506032b6570"), bytes.fromhex("300506032b6571")}
)  # Ed25519, Ed448
_RSA_KEY = bytes.fromhex("300d06092a864886f70d0101010500")
_EC_KEY = "301306072a8648ce3d0201"
_ED_KEYS = {
    bytes.fromhex("300506032b6570"): ("Ed25519", 32),
    bytes.fromhex("300506032b6571"): ("Ed448", 57),
}
# Named curve AlgorithmIdentifier -> (name, field prime p, coefficient b) of y^2 = x^3 - 3x + b
_CURVES = {
    bytes.fromhex(_EC_KEY + "06082a8648ce3d030107"): (
        "P-256",
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    ),
    bytes.fromhex("301006072a8648ce3d020106052b81040022"): (
        "P-384",
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
    ),
    bytes.fromhex("301006072a8648ce3d020106052b81040023"): (
        "P-521",
        2**521 - 1,
        0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
    ),
}


@dataclass(frozen=True)
class CertificateFacts:
    """What the checks use from one certificate, read without cryptography."""

    spki: bytes
    algorithm: str  # "RSA", "EC P-256", "Ed25519", ...
    rsa_bits: int  # 0 for other algorithms
    not_before: datetime
    not_after: datetime
    is_ca: bool


class _Outside(ValueError):
    """The DER lies outside what the walker reads; cryptography reads it."""


def _need(condition: bool) -> None:
    if not condition:
        raise _Outside


def _parts(data: bytes, tags: tuple[int, ...] | None = None) -> list[tuple[int, bytes, bytes]]:
    """(tag, content, whole element) of each DER element, which fill `data` exactly; with `tags`,
    the elements must have exactly those tags."""
    parts = []
    pos = 0
    while pos < len(data):
        tag, start, end = _tlv(data, pos)
        _need(tag & 0x1F != 0x1F)  # one-byte tags only
        length = end - start
        _need(start - pos == (2 if length < 0x80 else 2 + (length.bit_length() + 7) // 8))  # DER
        parts.append((tag, data[start:end], data[pos:end]))
        pos = end
    _need(tags is None or tuple(tag for tag, _, _ in parts) == tags)
    return parts


def _oid(content: bytes) -> None:
    """A minimally encoded OBJECT IDENTIFIER of small arcs."""
    _need(0 < len(content) <= 32 and content[-1] < 0x80)
    arc = 0
    for byte in content:
        _need(arc > 0 or byte != 0x80)  # no leading zero septet
        arc = arc + 1 if byte & 0x80 else 0
        _need(arc < 9)


def _unsigned(content: bytes) -> int:
    """A minimally encoded INTEGER that is not negative."""
    _need(len(content) > 0 and content[0] < 0x80)
    _need(len(content) == 1 or content[0] != 0 or content[1] >= 0x80)
    return int.from_bytes(content, "big")


def _bit_string(content: bytes) -> bytes:
    _need(len(content) > 1 and content[0] == 0)  # whole bytes
    return content[1:]


def _name(content: bytes) -> None:
    """A Name of single-valued RDNs: SEQUENCE OF SET OF {type OID, value of any tag}."""
    for tag, rdn, _ in _parts(content):
        _need(tag == _SET)
        ((_, pair, _),) = _parts(rdn, (_SEQUENCE,))
        (oid_tag, oid, _), (value_tag, _, _) = _parts(pair)
        _need(oid_tag == _OID and value_tag in _STRINGS)
        _oid(oid)


def _time(tag: int, content: bytes) -> datetime:
    """UTCTime as YYMMDDHHMMSSZ, or GeneralizedTime as YYYYMMDDHHMMSSZ from 2050 on (RFC 5280)."""
    text = content.decode("ascii")
    _need(text[-1:] == "Z" and text[:-1].isdigit())
    if tag == _UTC_TIME:
        _need(len(text) == 13)
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
    else:
        _need(tag == _GENERALIZED_TIME and len(text) == 15)
        year = int(text[:4])
        _need(year >= 2050)
    digits = text[-11:-1]
    month, day, hour, minute, second = (int(digits[i : i + 2]) for i in range(0, 10, 2))
    _need(hour < 24 and minute < 60 and second < 60)
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _public_key(spki: bytes) -> tuple[str, int]:
    """(algorithm, RSA modulus bits or 0) of a SubjectPublicKeyInfo cryptography would load."""
    (_, _, whole_algorithm), (_, bits, _) = _parts(spki, (_SEQUENCE, _BIT_STRING))
    key = _bit_string(bits)
    if whole_algorithm == _RSA_KEY:
        ((_, numbers, _),) = _parts(key, (_SEQUENCE,))
        (_, modulus, _), (_, exponent, _) = _parts(numbers, (_INTEGER, _INTEGER))
        n, e = _unsigned(modulus), _unsigned(exponent)
        _need(1024 <= n.bit_length() <= 8192 and n % 2 == 1 and e >= 3 and e % 2 == 1)
        return "RSA", n.bit_length()
    if whole_algorithm in _ED_KEYS:
        name, size = _ED_KEYS[whole_algorithm]
        _need(len(key) == size)
        return name, 0
    _need(whole_algorithm in _CURVES)
    name, p, b = _CURVES[whole_algorithm]
    size = (p.bit_length() + 7) // 8
    _need(len(key) == 1 + 2 * size and key[0] == 4)  # uncompressed point
    x, y = int.from_bytes(key[1 : 1 + size], "big"), int.from_bytes(key[1 + size :], "big")
    _need(x < p and y < p and (y * y - x * x * x + 3 * x - b) % p == 0)
    return f"EC {name}", 0


def _is_ca(extensions: bytes) -> bool:
    """Whether basicConstraints says cA; each extension once, each well formed as DER."""
    ((_, sequence, _),) = _parts(extensions, (_SEQUENCE,))
    seen = set()
    is_ca = False
    for tag, extension, _ in _parts(sequence):
        _need(tag == _SEQUENCE)
        fields = _parts(extension)
        _need(len(fields) in (2, 3) and fields[0][0] == _OID and fields[-1][0] == _OCTET_STRING)
        _oid(fields[0][1])
        _need(fields[0][1] not in seen)
        seen.add(fields[0][1])
        if len(fields) == 3:  # critical, present only when TRUE
            _need(fields[1][2] == b"\x01\x01\xff")
        if fields[0][1] == _BASIC_CONSTRAINTS:
            ((_, constraints, _),) = _parts(fields[-1][1], (_SEQUENCE,))
            inside = _parts(constraints)
            _need(not inside or inside[0][2] == b"\x01\x01\xff")  # cA TRUE, or absent
            if len(inside) == 2:
                _need(inside[1][0] == _INTEGER and _unsigned(inside[1][1]) < 256)
            _need(len(inside) <= 2)
            is_ca = bool(inside)
    _need(bool(seen))
    return is_ca


def read_certificate(der: bytes) -> CertificateFacts | None:
    """The facts of a DER certificate inside the walker's subset (see the module's docstring);
    None for anything else, which cryptography is to read."""
    try:
        ((_, certificate, _),) = _parts(der, (_SEQUENCE,))
        (_, tbs, _), (_, _, algorithm), (_, signature, _) = _parts(
            certificate, (_SEQUENCE, _SEQUENCE, _BIT_STRING)
        )
        _need(algorithm in _SIGNATURE_ALGORITHMS)
        _bit_string(signature)
        fields = _parts(tbs)
        version_3 = bool(fields) and fields[0][2] == _VERSION_3
        fields = fields[1:] if version_3 else fields
        _need(len(fields) == 6 or (version_3 and len(fields) == 7))  # only v3 has extensions
        serial, inner_algorithm, issuer, validity, subject, spki = fields[:6]
        _need(serial[0] == _INTEGER)
        _unsigned(serial[1])
        _need(inner_algorithm[2] in _SIGNATURE_ALGORITHMS)
        for name in (issuer, subject):
            _need(name[0] == _SEQUENCE)
            _name(name[1])
        _need(validity[0] == _SEQUENCE and spki[0] == _SEQUENCE)
        (begin_tag, begin, _), (end_tag, finish, _) = _parts(validity[1])
        not_before, not_after = _time(begin_tag, begin), _time(end_tag, finish)
        is_ca = False
        if len(fields) == 7:
            _need(fields[6][0] == _EXTENSIONS)
            is_ca = _is_ca(fields[6][1])
        algorithm_name, rsa_bits = _public_key(spki[1])
    except ValueError:  # _Outside, damaged DER, a bad date
        return None
    return CertificateFacts(spki[2], algorithm_name, rsa_bits, not_before, not_after, is_ca)


def dates_and_ca(der: bytes) -> tuple[datetime, datetime, bool]:
    """(not before, not after, basicConstraints cA) of a certificate already read."""
    facts = read_certificate(der)
    if facts is not None:
        return facts.not_before, facts.not_after, facts.is_ca
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return cert.not_valid_before_utc, cert.not_valid_after_utc, is_ca


# --- key descriptions ----------------------------------------------------------------------------


def _rsa_description(bits: int, source: str) -> tuple[str, tuple[str, ...]]:
    warnings: tuple[str, ...] = ()
    if bits < 2048:
        warnings = (f"{source}: RSA key of {bits} bits is weak; use 2048 or more",)
    return f"RSA {bits}", warnings


def describe_key(key: object, source: str) -> tuple[str, tuple[str, ...]]:
    """('RSA 2048', warnings) for a supported public key; InputError for anything else."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey):
        return _rsa_description(key.key_size, source)
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = SUPPORTED_CURVES.get(key.curve.name)
        if curve is None:
            raise _bad(
                source,
                f"unsupported elliptic curve {key.curve.name}",
                "use P-256, P-384 or P-521",
            )
        return f"EC {curve}", ()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", ()
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", ()
    raise _bad(
        source,
        f"unsupported key type {type(key).__name__.lstrip('_')}",
        "use RSA, EC P-256/P-384/P-521, Ed25519 or Ed448",
    )


def _spki_der(key: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- loaders -------------------------------------------------------------------------------------


def from_certificates(source: str, ders: list[bytes]) -> Material:
    """The key material of a DER chain, leaf first; InputError when it is damaged or unusable."""
    leaf_facts = read_certificate(ders[0])
    if leaf_facts is not None and all(read_certificate(der) for der in ders[1:]):
        if leaf_facts.algorithm == "RSA":
            key_type, warnings = _rsa_description(leaf_facts.rsa_bits, source)
        else:
            key_type, warnings = leaf_facts.algorithm, ()
        return Material(source, "certificate", leaf_facts.spki, tuple(ders), key_type, warnings)
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    for index, der in enumerate(ders):
        try:
            x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as exc:
            where = "the certificate" if len(ders) == 1 else f"certificate {index + 1}"
            raise _bad(
                source, f"{where} is damaged ({exc})", "re-export it from its source"
            ) from None
    leaf = x509.load_der_x509_certificate(ders[0])
    try:
        spki = spki_of_certificate(ders[0])
        key = leaf.public_key()
    except (ValueError, IndexError, UnsupportedAlgorithm) as exc:
        raise _bad(
            source, f"cannot read the certificate's public key ({exc})", "check the file"
        ) from None
    key_type, warnings = describe_key(key, source)
    return Material(source, "certificate", spki, tuple(ders), key_type, warnings)


def _load_private_key(data: bytes, pem: bool, password: bytes | None) -> PrivateKeyTypes:
    """The key; TypeError when it is encrypted and no password is given."""
    from cryptography.hazmat.primitives import serialization

    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return loader(data, password=password)
    except TypeError:
        if password is None:
            raise
        # A password (say from TLSAGEN_KEY_PASSWORD) given for a key that is not encrypted.
        return loader(data, password=None)


def _from_private_key(source: str, data: bytes, pem: bool, password: bytes | None) -> Material:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        key = _load_private_key(data, pem, password)
    except TypeError:
        raise _bad(
            source,
            "the private key is encrypted",
            "for generate give its password with --password-file or TLSAGEN_KEY_PASSWORD; "
            "in tlsagen.toml name its public key or certificate instead",
        ) from None
    except ValueError as exc:
        text = str(exc).lower()
        if password is not None and ("password" in text or "decrypt" in text or "bad" in text):
            raise _bad(
                source, "wrong password for the encrypted private key", "check the password"
            ) from None
        raise _bad(source, f"cannot read the private key ({exc})", "check the file") from None
    except UnsupportedAlgorithm as exc:
        raise _bad(
            source, f"unsupported key type ({exc})", "use RSA, EC, Ed25519 or Ed448"
        ) from None
    public = key.public_key()
    key_type, warnings = describe_key(public, source)
    return Material(source, "private key", _spki_der(public), (), key_type, warnings)  # type: ignore[arg-type]


def _from_public_key(source: str, der: bytes) -> Material:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_der_public_key(der)  # SPKI, or PKCS#1 RSAPublicKey
        _, start, _ = _tlv(der, 0)
        is_spki = _tlv(der, start)[0] == 0x30  # SPKI opens with its AlgorithmIdentifier SEQUENCE
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _bad(source, f"cannot read the public key ({exc})", "check the file") from None
    key_type, warnings = describe_key(key, source)
    spki = der if is_spki else _spki_der(key)  # type: ignore[arg-type]
    return Material(source, "public key", spki, (), key_type, warnings)


def _from_csr(source: str, der: bytes) -> Material:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        csr = x509.load_der_x509_csr(der)
        spki = spki_of_csr(der)
        key = csr.public_key()
    except (ValueError, IndexError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise _bad(
            source, f"cannot read the certificate request ({exc})", "check the file"
        ) from None
    key_type, warnings = describe_key(key, source)
    return Material(source, "certificate request", spki, (), key_type, warnings)


def _pem_blocks(source: str, data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(label, DER body, whole PEM block) for every PEM block; InputError when one is damaged."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        label, body = match.group(1), match.group(2)
        if not match.group(0).rstrip().endswith(b"-----END " + label + b"-----"):
            raise _bad(
                source,
                f"truncated PEM: '{label.decode()}' block has no END line",
                "re-copy the file",
            )
        if b"Proc-Type:" in body:  # legacy OpenSSL encryption: only the key loader understands it
            blocks.append((label, b"", match.group(0)))
            continue
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except binascii.Error:
            raise _bad(
                source, f"damaged PEM: '{label.decode()}' block is not base64", "re-copy the file"
            ) from None
        blocks.append((label, der, match.group(0)))
    return blocks


def parse(source: str, data: bytes, password: bytes | None = None) -> Material:
    """Detect the format of `data` from its content and read its key material."""
    if not data.strip():
        raise _bad(source, "the file is empty", "give a certificate, key or CSR")
    if b"-----BEGIN " in data:
        return _parse_pem(source, data, password)
    return _parse_der(source, data, password)


def _parse_pem(source: str, data: bytes, password: bytes | None) -> Material:
    blocks = _pem_blocks(source, data)
    labels = {label for label, _, _ in blocks}
    certs = [der for label, der, _ in blocks if label in _CERT_LABELS]
    if certs:
        material = from_certificates(source, certs)
        keys = [block for label, _, block in blocks if label in _KEY_LABELS]
        if len(keys) > 1:  # also bounds the work: loading an RSA 4096 key takes 0.1-0.5 s
            raise _bad(
                source,
                f"{len(keys)} private keys beside the certificate",
                "keep only the certificate's own key in the file",
            )
        for block in keys:
            if password is None and b"ENCRYPTED" not in block:
                key = _from_private_key(source, block, True, None)
                if key.spki != material.spki:
                    raise _bad(
                        source,
                        "the private key in the file does not match the first certificate",
                        "put the matching key and certificate together",
                    )
        return material
    for label, der, block in blocks:
        if label in _KEY_LABELS:
            return _from_private_key(source, block, True, password)
        if label in _PUBLIC_LABELS:
            return _from_public_key(source, der)
        if label in _CSR_LABELS:
            return _from_csr(source, der)
    unknown = sorted(label.decode() for label in labels - _IGNORED_LABELS)
    found = f" (found {', '.join(unknown)})" if unknown else ""
    raise _bad(
        source,
        f"no certificate, key or certificate request in the PEM data{found}",
        "give a certificate, private key, public key or CSR",
    )


def _parse_der(source: str, data: bytes, password: bytes | None) -> Material:
    if read_certificate(data) is not None:
        return from_certificates(source, [data])
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        pass
    else:
        return from_certificates(source, [data])
    try:
        x509.load_der_x509_csr(data)
    except (ValueError, x509.InvalidVersion):
        pass
    else:
        return _from_csr(source, data)
    try:
        serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        return _from_public_key(source, data)
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return _from_private_key(source, data, False, password)
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        return _from_private_key(source, data, False, password)
    raise _bad(
        source,
        "not a certificate, key or certificate request (PEM or DER)",
        "give a certificate, private key, public key or CSR",
    )


# --- files ---------------------------------------------------------------------------------------


def read_bytes(path: Path, source: str) -> bytes:
    """Read at most MAX_SOURCE_BYTES from a file, with errors that name it."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise _bad(source, "no such file", "check the path") from None
    except PermissionError:
        raise _bad(source, "permission denied", "run as a user that can read it") from None
    except IsADirectoryError:
        raise _bad(source, "is a directory", "give a file or a certbot lineage directory") from None
    except OSError as exc:
        raise _bad(source, f"cannot read ({exc.strerror})", "check the file") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise _bad(source, "file is larger than 1 MiB", "give a single certificate, chain or key")
    return data


LINEAGE_FILES = ("fullchain.pem", "cert.pem")


def read_source(source: str, password: bytes | None = None) -> Material:
    """Read one SOURCE: a file, '-' for standard input, or a certbot lineage directory."""
    if source == "-":
        data = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
        if len(data) > MAX_SOURCE_BYTES:
            raise _bad("<stdin>", "input is larger than 1 MiB", "give a single certificate or key")
        return parse("<stdin>", data, password)
    path = Path(source)
    if path.is_dir():
        for name in LINEAGE_FILES:
            candidate = path / name
            if candidate.is_file():
                return parse(str(candidate), read_bytes(candidate, str(candidate)), password)
        raise _bad(
            source,
            "directory holds no fullchain.pem or cert.pem",
            "give a certificate file or a certbot lineage directory (/etc/letsencrypt/live/NAME)",
        )
    material = parse(source, read_bytes(path, source), password)
    if material.kind == "private key":
        check_secret_file(path, "private key file")
    return material
