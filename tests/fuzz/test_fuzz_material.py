"""material.parse on random, truncated and mutated DER and PEM, from real certificates and keys."""

from __future__ import annotations

import base64
import datetime
import textwrap
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated, reads_or_refuses
from tlsagen.core import material

EXAMPLES = Path(__file__).parents[2] / "docs/examples"
PASSWORD = (EXAMPLES / "next-encrypted.pass").read_bytes().strip()
LABELS = (
    "CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE REQUEST",
    "EC PARAMETERS",
    "X509 CRL",
)


def _seeds() -> tuple[list[bytes], list[bytes]]:
    """(DER seeds, PEM seeds): the example chain and keys, and one of each other kind."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(ec_key, hashes.SHA256())
    der = serialization.Encoding.DER
    pem_seeds = [
        (EXAMPLES / "mx.example.com/fullchain.pem").read_bytes(),
        (EXAMPLES / "next.key").read_bytes(),
        (EXAMPLES / "next-encrypted.key").read_bytes(),
        cert.public_bytes(serialization.Encoding.PEM),
        csr.public_bytes(serialization.Encoding.PEM),
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(PASSWORD),  # legacy Proc-Type encryption
        ),
        ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
    ]
    der_seeds = [der for seed in pem_seeds for _, der, _ in material._pem_blocks("seed", seed)]
    der_seeds = [der for der in der_seeds if der]  # legacy-encrypted blocks have no DER
    der_seeds += [
        ed448.Ed448PrivateKey.generate().private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ec_key.public_key().public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo),
    ]
    return der_seeds, pem_seeds


DER_SEEDS, PEM_SEEDS = _seeds()
PASSWORDS = st.none() | st.just(PASSWORD) | st.binary(max_size=16)


def pem(label: str, der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@FUZZ
@given(data=st.binary(max_size=2048), password=PASSWORDS)
def test_random_bytes(data: bytes, password: bytes | None) -> None:
    reads_or_refuses(material.parse, "fuzz", data, password)


@FUZZ
@given(data=mutated(DER_SEEDS), password=PASSWORDS)
def test_mutated_der(data: bytes, password: bytes | None) -> None:
    found = reads_or_refuses(material.parse, "fuzz", data, password)
    assert found is None or found.spki


@FUZZ
@given(data=mutated(PEM_SEEDS), password=PASSWORDS)
def test_mutated_pem(data: bytes, password: bytes | None) -> None:
    found = reads_or_refuses(material.parse, "fuzz", data, password)
    assert found is None or found.spki


@FUZZ
@given(
    blocks=st.lists(
        st.tuples(st.sampled_from(LABELS), mutated(DER_SEEDS) | st.binary(max_size=64)),
        min_size=1,
        max_size=4,
    ),
    password=PASSWORDS,
)
def test_mutated_der_in_pem_blocks(blocks: list[tuple[str, bytes]], password: bytes | None) -> None:
    """Well-formed PEM around damaged DER, under every label, several blocks to a file."""
    data = b"".join(pem(label, der) for label, der in blocks)
    found = reads_or_refuses(material.parse, "fuzz", data, password)
    assert found is None or found.spki
