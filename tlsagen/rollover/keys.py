"""Generating the private key of a standing next key: PEM PKCS#8, mode 0600, written atomically."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tlsagen.config_values import refuse_shared_directories
from tlsagen.errors import UsageError
from tlsagen.files import write_atomic

# --key-type names -> the key type as material.describe_key names it
KEY_TYPES = {
    "rsa2048": "RSA 2048",
    "rsa3072": "RSA 3072",
    "rsa4096": "RSA 4096",
    "p256": "EC P-256",
    "p384": "EC P-384",
    "p521": "EC P-521",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}
_CURVES: dict[str, ec.EllipticCurve] = {
    "EC P-256": ec.SECP256R1(),
    "EC P-384": ec.SECP384R1(),
    "EC P-521": ec.SECP521R1(),
}


def key_type(name: str) -> str:
    """The key type for a --key-type name ("p256" -> "EC P-256")."""
    try:
        return KEY_TYPES[name.lower()]
    except KeyError:
        raise UsageError(f"--key-type {name}: use one of {', '.join(KEY_TYPES)}") from None


def new_key(kind: str) -> PrivateKeyTypes:
    """A fresh private key of a type as material.describe_key names it ("RSA 2048", "EC P-256")."""
    if kind.startswith("RSA "):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.split()[1]))
    if kind in _CURVES:
        return ec.generate_private_key(_CURVES[kind])
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    raise UsageError(f"cannot generate a key of type {kind}; give --key-type")


def write_new_key(path: Path, kind: str) -> None:
    """Generate a key of type `kind` and write it to `path` (mode 0600, atomically)."""
    pem = new_key(kind).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    refuse_shared_directories(path, "next key")
    write_atomic(path, pem, 0o600)
