"""`tlsagen generate` against golden values computed by the openssl command line.

Every expected value comes from openssl (`x509 -outform DER`, `x509 -pubkey | pkey -pubin -outform
DER`, `dgst -sha256/-sha512`), an implementation independent of tlsagen's, for every key type and
every way of giving the key: certificate, chain, private key, public key and CSR.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import (
    CHAIN_CAS,
    HOST,
    KEY_TYPES,
    PASSWORD,
    Cli,
    Pki,
    Run,
    golden,
    openssl,
    params_options,
)
from tlsagen.cli.generate import PASSWORD_ENV

SELECTOR_MATCHING = [(s, m) for s in (0, 1) for m in (0, 1, 2)]
RSA = ("rsa2048", "rsa1024")
EC = ("p256", "p384", "p521")
ENCRYPT = ["-passout", f"pass:{PASSWORD}"]
KEY = "{key}"  # stands for the private key file in the commands below

# How a key is given: name -> (key types, the openssl command making it from the private key, the
# PEM label it must carry (None: DER), whether it is encrypted with PASSWORD).
KEY_FORMS: dict[str, tuple[tuple[str, ...], list[str], str | None, bool]] = {
    "pkcs8-pem": (tuple(KEY_TYPES), ["pkey", "-in", KEY], "PRIVATE KEY", False),
    "pkcs8-der": (tuple(KEY_TYPES), ["pkey", "-in", KEY, "-outform", "DER"], None, False),
    "pkcs8-encrypted-pem": (
        tuple(KEY_TYPES),
        ["pkey", "-in", KEY, "-aes-256-cbc", *ENCRYPT],
        "ENCRYPTED PRIVATE KEY",
        True,
    ),
    "pkcs8-encrypted-der": (
        tuple(KEY_TYPES),
        ["pkcs8", "-in", KEY, "-topk8", "-v2", "aes-256-cbc", "-outform", "DER", *ENCRYPT],
        None,
        True,
    ),
    "pkcs1-pem": (RSA, ["rsa", "-in", KEY, "-traditional"], "RSA PRIVATE KEY", False),
    "pkcs1-der": (RSA, ["rsa", "-in", KEY, "-traditional", "-outform", "DER"], None, False),
    "pkcs1-legacy-encrypted-pem": (
        RSA,
        ["rsa", "-in", KEY, "-traditional", "-aes256", *ENCRYPT],
        "RSA PRIVATE KEY",
        True,
    ),
    "sec1-pem": (EC, ["ec", "-in", KEY], "EC PRIVATE KEY", False),
    "sec1-der": (EC, ["ec", "-in", KEY, "-outform", "DER"], None, False),
    "spki-pem": (tuple(KEY_TYPES), ["pkey", "-in", KEY, "-pubout"], "PUBLIC KEY", False),
    "spki-der": (tuple(KEY_TYPES), ["pkey", "-in", KEY, "-pubout", "-outform", "DER"], None, False),
    "pkcs1-public-pem": (RSA, ["rsa", "-in", KEY, "-RSAPublicKey_out"], "RSA PUBLIC KEY", False),
    "pkcs1-public-der": (
        RSA,
        ["rsa", "-in", KEY, "-RSAPublicKey_out", "-outform", "DER"],
        None,
        False,
    ),
    "csr-pem": (
        tuple(KEY_TYPES),
        ["req", "-new", "-key", KEY, "-subj", "/CN=x"],
        "CERTIFICATE REQUEST",
        False,
    ),
    "csr-der": (
        tuple(KEY_TYPES),
        ["req", "-new", "-key", KEY, "-subj", "/CN=x", "-outform", "DER"],
        None,
        False,
    ),
}


def expected(cert: Path, params: tuple[str, ...]) -> dict[str, str]:
    """{"U S M": hex} for a certificate (PEM), by openssl; usage is only copied from `params`."""
    return {p: golden(cert, int(p.split()[1]), int(p.split()[2])) for p in params}


def generate(cli: Cli, source: Path, params: tuple[str, ...], *extra: str) -> Run:
    options = params_options(params)
    return cli("generate", source, "--host", HOST, "--format", "json", *options, *extra)


@pytest.mark.parametrize("form", ["PEM", "DER"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_certificate_every_selector_and_matching_type(
    cli: Cli, pki: Pki, tmp_path: Path, key_type: str, form: str
) -> None:
    source = pki.cert(key_type)
    if form == "DER":
        source = tmp_path / "cert.der"
        source.write_bytes(openssl("x509", "-in", pki.cert(key_type), "-outform", "DER"))
    params = tuple(f"3 {s} {m}" for s, m in SELECTOR_MATCHING)
    run = generate(cli, source, params)
    assert run.records() == expected(pki.cert(key_type), params)
    weak_warning = "RSA key of 1024 bits is weak" in run.err
    assert weak_warning == (key_type == "rsa1024")


@pytest.mark.parametrize("usage", [0, 2])
@pytest.mark.parametrize(
    ("ta", "ca"),
    [(None, CHAIN_CAS[0])]
    + [(str(position), ca) for position, ca in enumerate(CHAIN_CAS, 1)]
    + [("root", CHAIN_CAS[-1])],
)
def test_trust_anchor_from_the_chain(
    cli: Cli, pki: Pki, usage: int, ta: str | None, ca: str
) -> None:
    params = tuple(f"{usage} {s} {m}" for s, m in SELECTOR_MATCHING)
    run = generate(cli, pki.fullchain, params, *(["--ta", ta] if ta else []))
    assert run.records() == expected(pki.ca(ca), params)


def test_leaf_and_issuer_records_together(cli: Cli, pki: Pki) -> None:
    run = generate(cli, pki.fullchain, ("3 1 1", "2 1 1"))
    leaf = expected(pki.cert("p256"), ("3 1 1",))
    issuer = expected(pki.ca("int2"), ("2 1 1",))
    assert run.records() == leaf | issuer


@pytest.mark.parametrize(
    ("form", "key_type"),
    [(form, key_type) for form, (types, _, _, _) in KEY_FORMS.items() for key_type in types],
)
def test_key_material_gives_the_certificate_spki(
    cli: Cli,
    pki: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
    key_type: str,
) -> None:
    _, command, label, encrypted = KEY_FORMS[form]
    source = tmp_path / form
    openssl(*(pki.key(key_type) if arg == KEY else arg for arg in command), "-out", source)
    content = source.read_bytes()
    if label is None:
        assert b"-----BEGIN" not in content
    else:
        assert content.startswith(f"-----BEGIN {label}-----".encode())
    if encrypted:
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    params = ("3 1 0", "3 1 1", "3 1 2")
    assert generate(cli, source, params).records() == expected(pki.cert(key_type), params)
