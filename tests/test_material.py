"""Reading key material: format detection, the SPKI exactly as it stands, passwords, files."""

from __future__ import annotations

import base64
import io
import logging
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import KEY_TYPES, PASSWORD, Pki, openssl, selected_bytes
from tlsagen.core import material
from tlsagen.errors import InputError

DESCRIPTIONS = {
    "rsa2048": "RSA 2048",
    "rsa1024": "RSA 1024",
    "p256": "EC P-256",
    "p384": "EC P-384",
    "p521": "EC P-521",
    "ed25519": "Ed25519",
    "ed448": "Ed448",
}
PEM_LABELS = [
    "CERTIFICATE",
    "X509 CERTIFICATE",
    "TRUSTED CERTIFICATE",
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE REQUEST",
    "NEW CERTIFICATE REQUEST",
    "X509 CRL",
]


def read(path: Path, password: str | None = None) -> material.Material:
    return material.read_source(str(path), password.encode() if password else None)


def test_every_key_type_has_a_description() -> None:
    assert set(DESCRIPTIONS) == set(KEY_TYPES)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_kind_and_key_type_are_detected(pki: Pki, tmp_path: Path, key_type: str) -> None:
    csr = tmp_path / "request.der"
    openssl(
        "req", "-new", "-key", pki.key(key_type), "-subj", "/CN=x", "-outform", "DER", "-out", csr
    )
    found = {m.kind: m.key_type for m in map(read, (pki.cert(key_type), pki.key(key_type), csr))}
    description = DESCRIPTIONS[key_type]
    assert found == {
        "certificate": description,
        "private key": description,
        "certificate request": description,
    }


def test_weak_rsa_key_warns(pki: Pki) -> None:
    assert read(pki.cert("rsa2048")).warnings == ()
    (warning,) = read(pki.cert("rsa1024")).warnings
    assert "1024 bits" in warning and str(pki.cert("rsa1024")) in warning


def test_bundle_keeps_the_chain_in_order(pki: Pki) -> None:
    chain = read(pki.fullchain).chain
    ders = [
        x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
        for path in (pki.cert("p256"), pki.ca("int2"), pki.ca("int1"), pki.ca("root"))
    ]
    assert list(chain) == ders


def test_spki_is_the_one_in_the_certificate_not_a_re_encoding(tmp_path: Path) -> None:
    """An EC key with a compressed point: re-encoding it (uncompressed) would change the bytes."""
    key, cert = tmp_path / "compressed.key", tmp_path / "compressed.pem"
    plain = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    openssl("ec", "-conv_form", "compressed", "-out", key, stdin=plain)
    csr = openssl("req", "-new", "-key", key, "-subj", "/CN=compressed")
    openssl("x509", "-req", "-signkey", key, "-days", "1", "-out", cert, stdin=csr)
    re_encoded = (
        x509.load_pem_x509_certificate(cert.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spki = read(cert).spki
    assert spki == selected_bytes(cert, 1)
    assert spki != re_encoded


def test_version_1_certificate(pki: Pki, tmp_path: Path) -> None:
    """A v1 certificate has no explicit [0] version field before the serial number."""
    cert = tmp_path / "v1.pem"
    csr = openssl("req", "-new", "-key", pki.key("ed25519"), "-subj", "/CN=v1")
    openssl("x509", "-req", "-signkey", pki.key("ed25519"), "-days", "1", "-out", cert, stdin=csr)
    assert b"Version: 1 (0x0)" in openssl("x509", "-in", cert, "-noout", "-text")
    assert read(cert).spki == selected_bytes(cert, 1)


def test_der_walker_rejects_truncated_data(pki: Pki) -> None:
    der = read(pki.cert("p256")).chain[0]
    with pytest.raises(ValueError, match="truncated"):
        material.spki_of_certificate(der[:200])


def test_certificate_with_its_matching_key_in_one_file(pki: Pki, tmp_path: Path) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.cert("p384").read_bytes() + pki.key("p384").read_bytes())
    assert read(combined).spki == read(pki.cert("p384")).spki
    combined.write_bytes(pki.cert("p384").read_bytes() + pki.key("p256").read_bytes())
    with pytest.raises(InputError, match="does not match the first certificate"):
        read(combined)


def test_damaged_certificate_in_a_bundle_is_named(pki: Pki, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    broken = base64.encodebytes(b"\x30\x03\x02\x01\x01").decode()
    damaged = f"-----BEGIN CERTIFICATE-----\n{broken}-----END CERTIFICATE-----\n"
    bundle.write_text(pki.cert("p256").read_text() + damaged)
    with pytest.raises(InputError, match="certificate 2 is damaged"):
        read(bundle)


@pytest.mark.parametrize("form", ["PEM", "DER"])
def test_password_is_used_for_an_encrypted_key(pki: Pki, tmp_path: Path, form: str) -> None:
    key = tmp_path / "encrypted.key"
    encrypt = ["-topk8", "-outform", form, "-passout", f"pass:{PASSWORD}"]
    openssl("pkcs8", "-in", pki.key("ed448"), *encrypt, "-out", key)
    assert read(key, PASSWORD).spki == read(pki.key("ed448")).spki
    with pytest.raises(InputError, match="encrypted; for generate give its password"):
        read(key)
    with pytest.raises(InputError, match="wrong password"):
        read(key, "not the password")


def test_password_for_a_key_that_is_not_encrypted_is_ignored(pki: Pki, tmp_path: Path) -> None:
    """TLSAGEN_KEY_PASSWORD may be set for other keys; a plain key still reads."""
    assert read(pki.key("p256"), PASSWORD).spki == read(pki.key("p256")).spki
    der = tmp_path / "p256.der"
    der.write_bytes(openssl("pkey", "-in", pki.key("p256"), "-outform", "DER"))
    assert read(der, PASSWORD).spki == read(pki.key("p256")).spki


def test_lineage_directory_prefers_fullchain(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(pki.cert("ed25519").read_bytes())
    assert read(tmp_path).source == str(tmp_path / "cert.pem")
    (tmp_path / "fullchain.pem").write_bytes(pki.fullchain.read_bytes())
    found = read(tmp_path)
    assert (found.source, len(found.chain)) == (str(tmp_path / "fullchain.pem"), 4)


def test_standard_input(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    data = pki.cert("p521").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    found = material.read_source("-")
    assert (found.source, found.spki) == ("<stdin>", read(pki.cert("p521")).spki)


def test_standard_input_over_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"x" * (material.MAX_SOURCE_BYTES + 1)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(InputError, match="<stdin>: input is larger than 1 MiB"):
        material.read_source("-")


def test_file_of_exactly_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"\0" * material.MAX_SOURCE_BYTES)
    assert len(material.read_bytes(path, "big")) == material.MAX_SOURCE_BYTES


@given(st.binary(max_size=2000))
def test_any_bytes_give_material_or_an_input_error(data: bytes) -> None:
    try:
        material.parse("f", data)
    except InputError as exc:
        assert str(exc).startswith("f: ")


@given(st.sampled_from(PEM_LABELS), st.binary(max_size=600), st.booleans())
def test_any_pem_body_gives_material_or_an_input_error(
    label: str, body: bytes, truncated: bool
) -> None:
    pem = f"-----BEGIN {label}-----\n{base64.encodebytes(body).decode()}"
    if not truncated:
        pem += f"-----END {label}-----\n"
    try:
        material.parse("f", pem.encode())
    except InputError as exc:
        assert str(exc).startswith("f: ")


def test_a_private_key_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    key.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="tlsagen"):
        material.read_source(str(key))
    assert "private key file" in caplog.text and "chmod 600" in caplog.text
    caplog.clear()
    key.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="tlsagen"):
        material.read_source(str(key))
    assert caplog.text == ""
