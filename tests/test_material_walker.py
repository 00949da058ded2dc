"""The strict certificate walker reads what cryptography reads, the same way, or leaves it to it.

Every certificate the walker accepts must load in cryptography and give the same SPKI, key type,
dates and CA flag; whatever it does not accept goes to cryptography, with its errors, as before.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated
from tests.helpers import CHAIN_CAS, KEY_TYPES, Pki
from tlsagen.core import material, policy
from tlsagen.core.tlsa import Params, compute
from tlsagen.errors import InputError

ALL_PARAMS = [Params(u, s, m) for u in range(4) for s in range(2) for m in range(3)]
NOW = datetime.datetime.now(datetime.UTC)
MX1 = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.com")])


def der_of(path: Path) -> list[bytes]:
    return [der for _, der, _ in material._pem_blocks(str(path), path.read_bytes())]


def by_cryptography(der: bytes) -> tuple[bytes, str, datetime.datetime, datetime.datetime, bool]:
    """What the walker reports, as cryptography reads it."""
    cert = x509.load_der_x509_certificate(der)
    key_type, _ = material.describe_key(cert.public_key(), "x")
    spki = material.spki_of_certificate(der)
    return spki, key_type, cert.not_valid_before_utc, cert.not_valid_after_utc, is_ca(cert)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def by_walker(der: bytes) -> tuple[bytes, str, datetime.datetime, datetime.datetime, bool] | None:
    facts = material.read_certificate(der)
    if facts is None:
        return None
    rsa_bits = f" {facts.rsa_bits}" if facts.algorithm == "RSA" else ""
    key_type = facts.algorithm + rsa_bits
    return facts.spki, key_type, facts.not_before, facts.not_after, facts.is_ca


def without_walker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every certificate to cryptography, as before the walker."""
    monkeypatch.setattr(material, "read_certificate", lambda der: None)


@pytest.mark.parametrize("name", [*KEY_TYPES, *CHAIN_CAS])
def test_the_walker_reads_each_key_type_as_cryptography_does(pki: Pki, name: str) -> None:
    path = pki.cert(name) if name in KEY_TYPES else pki.ca(name)
    (der,) = der_of(path)
    assert by_walker(der) == by_cryptography(der)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_every_record_is_the_same_on_both_paths(
    pki: Pki, tmp_path: Path, key_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain of each key type, as PEM and as DER: the same material, lints and records for
    every usage, selector and matching type."""
    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        b"".join(p.read_bytes() for p in (pki.cert(key_type), *map(pki.ca, CHAIN_CAS)))
    )
    der = tmp_path / "leaf.der"
    der.write_bytes(der_of(pki.cert(key_type))[0])
    sources = [chain, der]

    def read_all() -> list[tuple[material.Material, list[str], list[object]]]:
        found = [material.read_source(str(source)) for source in sources]
        return [
            (
                m,
                policy.lint_material(m, NOW),
                [compute(m, p) for p in ALL_PARAMS if m.chain[1:] or p.usage in (1, 3)],
            )
            for m in found
        ]

    walked = read_all()
    without_walker(monkeypatch)
    assert walked == read_all()


def _certificate(
    key: object,
    not_after: datetime.datetime,
    ca: bool | None,
    extra: x509.ExtensionType | None = None,
    name: x509.Name = MX1,
) -> bytes:
    signer = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(NOW, not_after) - datetime.timedelta(days=2))
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    if extra is not None:
        builder = builder.add_extension(extra, False)
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("ca", [None, False, True])
@pytest.mark.parametrize("years", [-1, 1, 40])  # 40: after 2049, a GeneralizedTime
def test_dates_and_the_ca_flag_match(ca: bool | None, years: int) -> None:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = _certificate(key, NOW.replace(microsecond=0) + datetime.timedelta(days=365 * years), ca)
    assert by_walker(der) == by_cryptography(der)
    assert material.dates_and_ca(der) == by_cryptography(der)[2:]


def test_a_damaged_extension_other_than_basic_constraints_is_not_read(pki: Pki) -> None:
    """The walker checks each extension's DER framing, not what cryptography parses inside
    (a SAN, say). Before it, `generate` of such a certificate ended in an internal error when the
    lints asked cryptography for basicConstraints; a TLSA record does not depend on it."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    san = x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x01\x00")
    der = _certificate(key, NOW + datetime.timedelta(days=1), False, san)
    with pytest.raises(ValueError):
        is_ca(x509.load_der_x509_certificate(der))
    found = material.from_certificates("x", [der])
    assert found.spki == material.spki_of_certificate(der)
    assert policy.lint_material(found, NOW) == []


def test_an_ec_point_off_the_curve_is_left_to_cryptography(pki: Pki) -> None:
    """cryptography refuses such a key only when asked for it; the walker must not accept it."""
    (der,) = der_of(pki.cert("p256"))
    spki = material.spki_of_certificate(der)
    off_curve = spki[:-1] + bytes([spki[-1] ^ 1])  # the last byte of y
    damaged = der.replace(spki, off_curve)
    assert material.read_certificate(damaged) is None
    with pytest.raises(InputError, match="cannot read the certificate's public key"):
        material.from_certificates("x", [damaged])


def test_outside_the_subset_cryptography_still_reads_it(pki: Pki) -> None:
    """A multi-valued RDN is outside the walker's subset: read by cryptography, as before."""
    rdn = x509.RelativeDistinguishedName(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.com"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
        ]
    )
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = _certificate(key, NOW + datetime.timedelta(days=1), None, name=x509.Name([rdn]))
    assert material.read_certificate(der) is None
    found = material.from_certificates("x", [der])
    assert (found.key_type, found.spki) == ("EC P-256", material.spki_of_certificate(der))
    assert material.dates_and_ca(der) == by_cryptography(der)[2:]


def test_a_malformed_length_is_refused_by_cryptography_not_the_walker(pki: Pki) -> None:
    """A long-form length where the short form fits is not DER."""
    (der,) = der_of(pki.cert("ed25519"))
    assert der[1] == 0x82
    body = der[4:]
    long_form = bytes([0x30, 0x83, 0]) + der[2:4] + body
    assert material.read_certificate(long_form) is None
    with pytest.raises(InputError, match="the certificate is damaged"):
        material.from_certificates("x", [long_form])


def _seeds() -> list[bytes]:
    examples = Path(__file__).parent.parent / "docs/examples/mx.example.com/fullchain.pem"
    seeds = der_of(examples)
    for key in (
        ec.generate_private_key(ec.SECP256R1()).public_key(),
        ec.generate_private_key(ec.SECP521R1()).public_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
        ed448.Ed448PrivateKey.generate().public_key(),
    ):
        seeds += [_certificate(key, NOW + datetime.timedelta(days=1), ca) for ca in (None, True)]
    return seeds


SEEDS = _seeds()


def test_the_seeds_are_inside_the_subset() -> None:
    """Else the fuzz test below would compare nothing."""
    assert all(material.read_certificate(der) for der in SEEDS)


@FUZZ
@given(der=mutated(SEEDS))
def test_whatever_the_walker_accepts_cryptography_reads_alike(der: bytes) -> None:
    """The same SPKI, key type, dates and CA flag; where cryptography cannot parse some other
    extension inside, the same but for the flag (see the test above)."""
    walked = by_walker(der)
    if walked is None:
        return
    try:
        assert walked == by_cryptography(der)
    except ValueError:
        with mock.patch(f"{__name__}.is_ca", return_value=walked[-1]):
            assert walked == by_cryptography(der)
