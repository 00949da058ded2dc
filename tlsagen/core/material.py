"""Read certificates, chains, keys and CSRs into the bytes a TLSA record is computed from.

Pure functions over bytes, plus `read_source` (the one place that touches files). The SPKI hashed
for selector 1 is the SubjectPublicKeyInfo exactly as it stands inside the certificate or CSR; only
bare private keys and PKCS#1 public keys, which hold no SPKI, have theirs encoded here.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tlsagen.config_values import check_secret_file
from tlsagen.errors import InputError

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

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


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


# --- key descriptions ----------------------------------------------------------------------------


def describe_key(key: object, source: str) -> tuple[str, tuple[str, ...]]:
    """('RSA 2048', warnings) for a supported public key; InputError for anything else."""
    if isinstance(key, rsa.RSAPublicKey):
        warnings: tuple[str, ...] = ()
        if key.key_size < 2048:
            warnings = (f"{source}: RSA key of {key.key_size} bits is weak; use 2048 or more",)
        return f"RSA {key.key_size}", warnings
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
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- loaders -------------------------------------------------------------------------------------


def from_certificates(source: str, ders: list[bytes]) -> Material:
    """The key material of a DER chain, leaf first; InputError when it is damaged or unusable."""
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
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return loader(data, password=password)
    except TypeError:
        if password is None:
            raise
        # A password (say from TLSAGEN_KEY_PASSWORD) given for a key that is not encrypted.
        return loader(data, password=None)


def _from_private_key(source: str, data: bytes, pem: bool, password: bytes | None) -> Material:
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
