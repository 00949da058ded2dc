"""verify.match: the DANE matching rules, on chains made here (no servers)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.testbed.postfix import issue, new_key
from tlsagen.core.material import spki_of_certificate
from tlsagen.core.tlsa import TLSAData
from tlsagen.core.verify import (
    IGNORED,
    MATCH,
    NO_MATCH,
    UNUSABLE,
    MatchResult,
    match,
    name_matches,
)

NOW = datetime.now(UTC)
NAME = "mx1.example.test"
PAST = (NOW - timedelta(days=400), NOW - timedelta(days=10))


@dataclass(frozen=True)
class Pki:
    leaf: bytes
    intermediate: bytes
    root: bytes

    @property
    def served(self) -> list[bytes]:
        return [self.leaf, self.intermediate]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def make_pki(
    names: tuple[str, ...] = (NAME,),
    leaf_valid: tuple[datetime, datetime] | None = None,
    intermediate_valid: tuple[datetime, datetime] | None = None,
) -> Pki:
    root_key, int_key, leaf_key = (new_key("ecdsa") for _ in range(3))
    root = issue("Root", root_key, None, root_key, ca=True)
    intermediate = issue("CA", int_key, root, root_key, ca=True, valid=intermediate_valid)
    leaf = issue(NAME, leaf_key, intermediate, int_key, False, names, leaf_valid)
    return Pki(der(leaf), der(intermediate), der(root))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def record(params: str, cert: bytes) -> TLSAData:
    usage, selector, mtype = (int(f) for f in params.split())
    selected = cert if selector == 0 else spki_of_certificate(cert)
    data = {0: selected, 1: hashlib.sha256(selected).digest(), 2: hashlib.sha512(selected).digest()}
    return TLSAData(usage, selector, mtype, data[mtype])


def wrong(params: str) -> TLSAData:
    usage, selector, mtype = (int(f) for f in params.split())
    return TLSAData(usage, selector, mtype, bytes(32 if mtype == 1 else 64))


def status_of(result: MatchResult, rec: TLSAData) -> str:
    return next(r.status for r in result.results if r.record == rec)


@pytest.mark.parametrize("params", ["3 1 1", "3 1 2", "3 0 1", "3 1 0", "3 0 0"])
def test_dane_ee_matches_the_leaf(pki: Pki, params: str) -> None:
    rec = record(params, pki.leaf)
    result = match(pki.served, [rec], NAME, True, NOW)
    assert (result.matched, result.depth) == (rec, 0)


def test_dane_ee_ignores_names_and_dates() -> None:
    stale = make_pki(names=("other.example",), leaf_valid=PAST)
    rec = record("3 1 1", stale.leaf)
    assert match([stale.leaf], [rec], NAME, True, NOW).matched == rec


def test_any_usable_record_may_match(pki: Pki) -> None:
    good = record("3 1 1", pki.leaf)
    result = match(pki.served, [wrong("3 1 1"), good], NAME, True, NOW)
    assert result.matched == good
    assert status_of(result, wrong("3 1 1")) == NO_MATCH


def test_no_match_says_why(pki: Pki) -> None:
    result = match(pki.served, [wrong("3 1 1")], NAME, True, NOW)
    assert result.matched is None and result.usable
    assert "public key is different" in result.results[0].reason


def test_digest_agility_ignores_sha256_when_sha512_is_there(pki: Pki) -> None:
    sha256 = record("3 1 1", pki.leaf)
    result = match(pki.served, [sha256, wrong("3 1 2")], NAME, True, NOW)
    assert result.matched is None
    assert status_of(result, sha256) == IGNORED
    assert "RFC 7671 §9" in next(r.reason for r in result.results if r.status == IGNORED)


def test_digest_agility_keeps_full_data_and_other_pairs(pki: Pki) -> None:
    for kept in (record("3 1 0", pki.leaf), record("3 0 1", pki.leaf)):
        result = match(pki.served, [kept, wrong("3 1 2")], NAME, True, NOW)
        assert result.matched == kept


def test_sha512_alone_decides(pki: Pki) -> None:
    sha512 = record("3 1 2", pki.leaf)
    assert match(pki.served, [wrong("3 1 1"), sha512], NAME, True, NOW).matched == sha512


@pytest.mark.parametrize("params", ["0 1 1", "1 1 1"])
def test_pkix_usages_are_unusable_in_smtp(pki: Pki, params: str) -> None:
    rec = record(params, pki.leaf if params.startswith("1") else pki.intermediate)
    result = match(pki.served, [rec], NAME, True, NOW)
    assert result.matched is None and not result.usable
    assert "RFC 7672" in result.results[0].reason
    assert "WebPKI" in match(pki.served, [rec], NAME, False, NOW).results[0].reason


@pytest.mark.parametrize(
    ("rec", "why"),
    [
        (TLSAData(4, 1, 1, bytes(32)), "usage 4"),
        (TLSAData(3, 2, 1, bytes(32)), "selector 2"),
        (TLSAData(3, 1, 3, bytes(32)), "matching type 3"),
        (TLSAData(3, 1, 1, bytes(31)), "needs 32 bytes"),
    ],
)
def test_undefined_or_malformed_records_are_unusable(pki: Pki, rec: TLSAData, why: str) -> None:
    result = match(pki.served, [rec], NAME, True, NOW).results[0]
    assert result.status == UNUSABLE and why in result.reason


def test_unusable_records_do_not_shadow_digests(pki: Pki) -> None:
    good = record("3 1 1", pki.leaf)
    bad_sha512 = TLSAData(3, 1, 2, bytes(10))  # wrong length: dropped before digest agility
    assert match(pki.served, [good, bad_sha512], NAME, True, NOW).matched == good


def test_dane_ta_matches_a_served_intermediate(pki: Pki) -> None:
    for params in ("2 1 1", "2 0 1", "2 1 2"):
        rec = record(params, pki.intermediate)
        result = match(pki.served, [rec], NAME, True, NOW)
        assert (result.matched, result.depth) == (rec, 1)


def test_dane_ta_needs_the_anchor_in_the_chain(pki: Pki) -> None:
    rec = record("2 1 1", pki.root)
    result = match(pki.served, [rec], NAME, True, NOW)
    assert result.matched is None
    assert "DANE-TA needs the anchor in the chain sent" in result.results[0].reason
    served_root = match([*pki.served, pki.root], [rec], NAME, True, NOW)
    assert (served_root.matched, served_root.depth) == (rec, 2)


@pytest.mark.parametrize("params", ["2 0 0", "2 1 0"])
def test_full_anchor_data_may_sign_the_top_of_the_chain(pki: Pki, params: str) -> None:
    rec = record(params, pki.root)
    result = match(pki.served, [rec], NAME, True, NOW)
    assert (result.matched, result.depth) == (rec, 2)
    other = record(params, make_pki().root)
    assert match(pki.served, [other], NAME, True, NOW).matched is None


def test_dane_ta_checks_the_name(pki: Pki) -> None:
    rec = record("2 1 1", pki.intermediate)
    result = match(pki.served, [rec], "mx2.example.test", True, NOW)
    assert result.matched is None
    assert "mx2.example.test is not among the leaf's names (mx1.example.test)" in (
        result.results[0].reason
    )


def test_dane_ta_accepts_a_wildcard_name() -> None:
    wild = make_pki(names=("*.example.test",))
    rec = record("2 1 1", wild.intermediate)
    assert match(wild.served, [rec], "MX9.Example.Test.", True, NOW).matched == rec
    assert match(wild.served, [rec], "a.mx9.example.test", True, NOW).matched is None


def test_dane_ta_checks_dates_below_the_anchor() -> None:
    expired_leaf = make_pki(leaf_valid=PAST)
    rec = record("2 1 1", expired_leaf.intermediate)
    result = match(expired_leaf.served, [rec], NAME, True, NOW)
    assert result.matched is None and "depth 0 is valid only" in result.results[0].reason
    expired_ca = make_pki(intermediate_valid=PAST)
    root = record("2 1 1", expired_ca.root)
    result = match([*expired_ca.served, expired_ca.root], [root], NAME, True, NOW)
    assert result.matched is None and "depth 1 is valid only" in result.results[0].reason
    ca = record("2 1 1", expired_ca.intermediate)  # the anchor's own dates are not checked
    assert match(expired_ca.served, [ca], NAME, True, NOW).matched == ca


def test_dane_ta_checks_signatures(pki: Pki) -> None:
    stranger = make_pki()
    chain = [stranger.leaf, pki.intermediate]  # the leaf was not issued by this CA
    result = match(chain, [record("2 1 1", pki.intermediate)], NAME, True, NOW)
    assert "depth 0 is not signed by the one at depth 1" in result.results[0].reason


def test_reports_every_record_in_order(pki: Pki) -> None:
    recs = [record("3 1 1", pki.leaf), wrong("3 1 1"), record("1 1 1", pki.leaf)]
    result = match(pki.served, recs, NAME, True, NOW)
    assert [r.record for r in result.results] == sorted(set(recs))
    assert {r.status for r in result.results} == {MATCH, NO_MATCH, UNUSABLE}


def test_cn_is_the_name_without_a_san() -> None:
    bare = make_pki(names=())
    rec = record("2 1 1", bare.intermediate)
    assert match(bare.served, [rec], NAME, True, NOW).matched == rec


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("mx1.example.test", "mx1.example.test", True),
        ("MX1.example.test.", "mx1.EXAMPLE.test", True),
        ("mx1.example.test", "*.example.test", True),
        ("example.test", "*.example.test", False),
        ("a.mx1.example.test", "*.example.test", False),
        ("mx1.test", "*.test", False),  # a wildcard needs two labels after it
        ("mx1.example.test", "mx*.example.test", False),  # no partial wildcards
        ("mx1.example.test", "*.*.test", False),
        ("mx1.example.test", "mx2.example.test", False),
    ],
)
def test_name_matches(name: str, pattern: str, expected: bool) -> None:
    assert name_matches(name, pattern) is expected


def test_an_empty_chain_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        match([], [], NAME, True, NOW)


# --- the path as OpenSSL (and so Postfix) builds it from what the server sent ---------------------


def test_dane_ta_builds_the_path_from_a_misordered_chain(pki: Pki) -> None:
    sent = [pki.leaf, pki.root, pki.intermediate]  # RFC 8446 §4.4.2: clients should cope
    for anchor, depth in ((pki.intermediate, 1), (pki.root, 2)):
        rec = record("2 1 1", anchor)
        result = match(sent, [rec], NAME, True, NOW)
        assert (result.matched, result.depth) == (rec, depth)


def test_dane_ta_skips_certificates_off_the_path(pki: Pki) -> None:
    unrelated = make_pki(names=("other.example",))
    sent = [pki.leaf, unrelated.leaf, pki.leaf, pki.intermediate]
    rec = record("2 1 1", pki.intermediate)
    assert match(sent, [rec], NAME, True, NOW).depth == 1
    # A record for a certificate that was sent but is off the path is no anchor.
    off_path = record("2 1 1", unrelated.leaf)
    result = match(sent, [off_path], NAME, True, NOW)
    assert result.matched is None and "no certificate on the path" in result.results[0].reason


def test_dane_ta_takes_the_first_issuer_by_name_as_openssl_does(pki: Pki) -> None:
    # Both CAs are named "CA" and carry no key identifiers: OpenSSL takes the first one sent
    # that is valid, checks signatures only once the path is built, and does not backtrack.
    stranger = make_pki()
    rec = record("2 1 1", pki.intermediate)
    good_first = match([pki.leaf, pki.intermediate, stranger.intermediate], [rec], NAME, True, NOW)
    assert good_first.matched == rec
    bad_first = match([pki.leaf, stranger.intermediate, pki.intermediate], [rec], NAME, True, NOW)
    assert bad_first.matched is None


def test_dane_ta_the_closest_anchor_decides(pki: Pki) -> None:
    near, far = record("2 1 1", pki.intermediate), record("2 0 1", pki.root)
    result = match([*pki.served, pki.root], [near, far], NAME, True, NOW)
    assert (result.matched, result.depth) == (near, 1)
    assert status_of(result, far) == NO_MATCH
    assert (
        "the anchor at depth 1 comes first" in result.results[0].reason + result.results[1].reason
    )


def test_dane_ta_full_certificate_not_sent_joins_the_path(pki: Pki) -> None:
    rec = record("2 0 0", pki.root)
    result = match([pki.intermediate, pki.leaf][::-1], [rec], NAME, True, NOW)
    assert (result.matched, result.depth) == (rec, 2)
    assert "from the record (not sent)" in result.results[0].reason


def test_a_self_signed_anchor_must_be_valid_now() -> None:
    root_key, int_key, leaf_key = (new_key("ecdsa") for _ in range(3))
    root = issue("Root", root_key, None, root_key, ca=True, valid=PAST)
    intermediate = issue("CA", int_key, root, root_key, ca=True)
    leaf = issue(NAME, leaf_key, intermediate, int_key, False, (NAME,))
    sent = [der(leaf), der(intermediate), der(root)]
    result = match(sent, [record("2 1 1", der(root))], NAME, True, NOW)
    assert result.matched is None
    assert "the self-signed trust anchor at depth 2 is valid only" in result.results[0].reason


@pytest.mark.parametrize("params", ["2 0 0", "3 0 0", "2 1 0", "3 1 0"])
def test_full_data_that_is_no_certificate_or_key_is_unusable(pki: Pki, params: str) -> None:
    usage, selector, _ = (int(f) for f in params.split())
    rec = TLSAData(usage, selector, 0, b"\x30\x03\x02\x01\x00")
    result = match(pki.served, [rec], NAME, True, NOW).results[0]
    assert result.status == UNUSABLE and "Full(0) data that is not a DER" in result.reason


def test_dane_ta_an_issuer_whose_key_usage_forbids_signing_certificates() -> None:
    from cryptography.hazmat.primitives import hashes

    root_key, int_key, leaf_key = (new_key("ecdsa") for _ in range(3))
    root = issue("Root", root_key, None, root_key, ca=True)
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    builder = x509.CertificateBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CA")])
    )
    intermediate = (
        builder.issuer_name(root.subject)
        .public_key(int_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf = issue(NAME, leaf_key, intermediate, int_key, False, (NAME,))
    rec = record("2 1 1", der(intermediate))
    result = match([der(leaf), der(intermediate)], [rec], NAME, True, NOW)
    assert result.matched is None
    assert "depth 1 may not sign certificates (key usage)" in result.results[0].reason
