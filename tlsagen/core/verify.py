"""DANE matching (RFC 6698, 7671, 7672): does a served chain match a TLSA RRset? Pure.

`match` gives the verdict Postfix gives (through OpenSSL's DANE code, which it uses): drop the
records it cannot use (undefined fields, a digest of the wrong length, Full(0) data that is not a
certificate or key, PKIX usages), apply digest agility (RFC 7671 §9), then

- DANE-EE(3): the leaf's certificate or key, ignoring names and dates (RFC 7671 §5.1);
- DANE-TA(2): build the path up from the leaf the way OpenSSL does, from whatever the server sent
  (extra certificates, any order; RFC 8446 §4.4.2) and the certificates of Full(0) records: at
  each step the issuer is a sent certificate whose subject is the issuer name (and whose key
  identifier and key type fit), preferring one valid now; the first certificate on the path that
  matches a record is the trust anchor. With none, a `2 1 0` key that signed the top of the path
  is. Below the anchor: signatures, dates, CA flags, key usage and the leaf's name (RFC 7671
  §5.2, RFC 6125 wildcards); the anchor's own dates count only when it is self-signed, as in
  OpenSSL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tlsagen.core.material import spki_of_certificate
from tlsagen.core.text import escaped
from tlsagen.core.tlsa import MatchingType, Selector, TLSAData, Usage, digest
from tlsagen.errors import UsageError

MATCH = "match"
NO_MATCH = "no match"
UNUSABLE = "unusable"
IGNORED = "ignored"


@dataclass(frozen=True)
class RecordResult:
    """What became of one record: its status (MATCH, NO_MATCH, UNUSABLE, IGNORED) and why."""

    record: TLSAData
    status: str
    reason: str
    depth: int | None = None  # depth on the path of the certificate it matched (0 = leaf)


@dataclass(frozen=True)
class MatchResult:
    matched: TLSAData | None  # the record that authenticates the chain, if any
    depth: int | None  # the depth at which it matched; one above the path for a bare key
    results: tuple[RecordResult, ...]  # one per distinct record, in record order

    @property
    def usable(self) -> bool:
        """At least one record could be used (RFC 7672 §2.2: if none, TLS but no DANE)."""
        return any(r.status in (MATCH, NO_MATCH) for r in self.results)


def match(
    chain: Sequence[bytes],
    records: Iterable[TLSAData],
    name: str,
    smtp: bool,
    now: datetime,
) -> MatchResult:
    """Match `chain` (DER, leaf first, the rest as served) against `records` for reference name
    `name`."""
    if not chain:
        raise ValueError("match() needs at least the leaf certificate")
    distinct = sorted(set(records))
    results: dict[TLSAData, RecordResult] = {}
    usable = []
    for record in distinct:
        why = unusable(record, smtp)
        if why:
            results[record] = RecordResult(record, UNUSABLE, why)
        else:
            usable.append(record)
    strongest: dict[tuple[int, int], int] = {}
    for record in usable:
        if record.matching_type != MatchingType.FULL:
            key = (record.usage, record.selector)
            strongest[key] = max(strongest.get(key, 0), record.matching_type)
    certs = _Chain(chain)
    anchors = []
    for record in usable:
        best = strongest.get((record.usage, record.selector), 0)
        if record.matching_type != MatchingType.FULL and record.matching_type < best:
            results[record] = RecordResult(
                record,
                IGNORED,
                f"a {record.usage} {record.selector} {best} record exists: clients that support "
                f"matching type {best} ignore the weaker digest (RFC 7671 §9)",
            )
        elif record.usage == Usage.DANE_EE:
            results[record] = _dane_ee(record, certs)
        else:
            anchors.append(record)
    if anchors:
        results.update(_dane_ta(anchors, certs, name.rstrip(".").lower(), now))
    ordered = tuple(results[record] for record in distinct)
    matches = sorted((r for r in ordered if r.status == MATCH), key=lambda r: r.depth or 0)
    if matches:
        return MatchResult(matches[0].record, matches[0].depth, ordered)
    return MatchResult(None, None, ordered)


def unusable(record: TLSAData, smtp: bool) -> str | None:
    """Why a client cannot use this record (for SMTP when `smtp`), or None."""
    if record.usage not in tuple(Usage):
        return f"usage {record.usage} is not defined"
    if record.selector not in tuple(Selector):
        return f"selector {record.selector} is not defined"
    if record.matching_type not in tuple(MatchingType):
        return f"matching type {record.matching_type} is not defined"
    try:
        record.check_length()
    except UsageError as exc:
        return str(exc)
    if record.usage in (Usage.PKIX_TA, Usage.PKIX_EE):
        if smtp:
            return "PKIX usages (0, 1) are unusable in SMTP (RFC 7672 §3.1.3)"
        return "PKIX usages (0, 1) need WebPKI validation, which tlsagen does not do"
    if record.matching_type == MatchingType.FULL and _full_data(record) is None:
        what = "certificate" if record.selector == Selector.CERT else "public key (SPKI)"
        return f"Full(0) data that is not a DER {what}: OpenSSL and Postfix refuse the record"
    return None


def _full_data(record: TLSAData) -> x509.Certificate | PublicKeyTypes | None:
    """The certificate or key a Full(0) record holds; None when it holds neither."""
    try:
        if record.selector == Selector.CERT:
            return x509.load_der_x509_certificate(record.data)
        return serialization.load_der_public_key(record.data)
    except (ValueError, UnsupportedAlgorithm):
        return None


@dataclass(frozen=True)
class _Cert:
    der: bytes
    cert: x509.Certificate
    sent: bool  # sent by the server (else: from a Full(0) record)


class _Chain:
    """The served chain, parsed on first use."""

    def __init__(self, ders: Sequence[bytes]) -> None:
        self.ders = tuple(ders)
        self._parsed: dict[int, x509.Certificate] = {}

    def selected(self, depth: int, selector: int) -> bytes:
        der = self.ders[depth]
        return der if selector == Selector.CERT else spki_of_certificate(der)

    def cert(self, depth: int) -> x509.Certificate:
        """The certificate at `depth`; ValueError naming the depth when it cannot be parsed."""
        if depth not in self._parsed:
            try:
                self._parsed[depth] = x509.load_der_x509_certificate(self.ders[depth])
            except (ValueError, x509.InvalidVersion) as exc:
                raise ValueError(
                    f"the certificate sent at position {depth} cannot be read ({exc})"
                ) from None
        return self._parsed[depth]

    def entries(self) -> list[_Cert]:
        return [_Cert(der, self.cert(i), True) for i, der in enumerate(self.ders)]


def _dane_ee(record: TLSAData, certs: _Chain) -> RecordResult:
    if digest(certs.selected(0, record.selector), record.matching_type) == record.data:
        reason = "matches the leaf; DANE-EE ignores names and dates (RFC 7671 §5.1)"
        return RecordResult(record, MATCH, reason, 0)
    what = "certificate" if record.selector == Selector.CERT else "public key"
    return RecordResult(record, NO_MATCH, f"the leaf's {what} is different")


def _matches(record: TLSAData, der: bytes) -> bool:
    selected = der if record.selector == Selector.CERT else spki_of_certificate(der)
    return digest(selected, record.matching_type) == record.data


def _dane_ta(
    records: list[TLSAData], certs: _Chain, name: str, now: datetime
) -> dict[TLSAData, RecordResult]:
    """The DANE-TA records' results: one path, one anchor (the first certificate up the path
    that matches a record, else a bare key that signed its top), checked below the anchor."""
    try:
        sent = certs.entries()
    except ValueError as exc:
        return {r: RecordResult(r, NO_MATCH, str(exc)) for r in records}
    extra = []
    for record in records:
        held = _full_data(record) if record.selector == Selector.CERT else None
        if isinstance(held, x509.Certificate):
            extra.append(_Cert(record.data, held, False))
    path = _path(sent, extra, records, now)
    depth = len(path)
    anchor = [r for r in records if _matches(r, path[-1].der)] if depth > 1 else []
    if not anchor:
        anchor = [r for r in records if _bare_key_signed(r, path[-1].cert)]
        where = f"a key in the record, which signed the top of the path (depth {depth - 1})"
    else:
        depth -= 1
        origin = "sent by the server" if path[depth].sent else "from the record (not sent)"
        where = f"the certificate at depth {depth}, {origin}"
    try:
        if not anchor:
            raise ValueError(_no_anchor(path))
        _check_path(path, depth, name, now)
    except ValueError as exc:
        results = {r: RecordResult(r, NO_MATCH, str(exc)) for r in records}
        return results | {r: RecordResult(r, NO_MATCH, str(exc), depth) for r in anchor}
    passed = f"trust anchor: {where}; path, dates and name valid"
    results = {
        r: RecordResult(r, NO_MATCH, f"not needed: the anchor at depth {depth} comes first")
        for r in records
    }
    return results | {r: RecordResult(r, MATCH, passed, depth) for r in anchor}


def _no_anchor(path: list[_Cert]) -> str:
    return (
        f"no certificate on the path built from the server's chain (depth 0 to {len(path) - 1}) "
        "matches, and no Full(0) record's key signed its top: DANE-TA needs the anchor in the "
        "chain sent, or its full certificate or key in the record"
    )


def _path(
    sent: list[_Cert], extra: list[_Cert], records: list[TLSAData], now: datetime
) -> list[_Cert]:
    """The path OpenSSL builds up from the leaf: it stops at a self-signed certificate, at the
    first certificate that matches a record, or where no issuer is found."""
    path = [sent[0]]
    candidates = sent[1:] + extra
    while not _self_issued(path[-1].cert):
        issuer = _find_issuer(path, candidates, now)
        if issuer is None:
            break
        candidates.remove(issuer)
        path.append(issuer)
        if any(_matches(r, issuer.der) for r in records):
            break
    return path


def _find_issuer(path: list[_Cert], candidates: list[_Cert], now: datetime) -> _Cert | None:
    """The first candidate that issued the top of `path` and is valid now, else the one that
    expires last (OpenSSL's rule); certificates already on the path are skipped."""
    on_path = {entry.der for entry in path}
    found = [
        c for c in candidates if c.der not in on_path and _likely_issued(path[-1].cert, c.cert)
    ]
    for candidate in found:
        if _valid_at(candidate.cert, now):
            return candidate
    return max(found, key=lambda c: c.cert.not_valid_after_utc, default=None)


def _likely_issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """OpenSSL's ossl_x509_likely_issued (no signature, no key usage yet): the names chain, the
    key identifiers agree, the issuer's key fits the signature algorithm."""
    if cert.issuer != issuer.subject or not _key_ids_agree(cert, issuer):
        return False
    return _key_fits(issuer.public_key(), cert)


def _key_fits(key: PublicKeyTypes, cert: x509.Certificate) -> bool:
    params = cert.signature_algorithm_parameters
    if isinstance(key, rsa.RSAPublicKey):
        return isinstance(params, padding.PKCS1v15 | padding.PSS)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(params, ec.ECDSA)
    if isinstance(key, dsa.DSAPublicKey):
        return cert.signature_algorithm_oid.dotted_string.startswith("2.16.840.1.101.3.4.3")
    return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey) and params is None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _key_ids_agree(cert, cert)


def _key_ids_agree(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The authority key identifier of `cert`, if any, is the issuer's subject key identifier."""
    akid = _extension(cert, x509.AuthorityKeyIdentifier)
    skid = _extension(issuer, x509.SubjectKeyIdentifier)
    return akid is None or skid is None or akid.key_identifier in (None, skid.digest)


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _bare_key_signed(record: TLSAData, cert: x509.Certificate) -> bool:
    if (record.selector, record.matching_type) != (Selector.SPKI, MatchingType.FULL):
        return False
    key = _full_data(record)
    return key is not None and not isinstance(key, x509.Certificate) and _signed_with(cert, key)


def _check_path(path: list[_Cert], depth: int, name: str, now: datetime) -> None:
    """ValueError unless every certificate below the anchor at `depth` is sound for `name`
    (at depth == len(path), the anchor is a bare key that signed the top: already checked)."""
    for below in range(min(depth, len(path)) - 1, -1, -1):
        cert = path[below].cert
        if below + 1 < len(path) and not _issued_by(cert, path[below + 1].cert):
            raise ValueError(
                f"the certificate at depth {below} is not signed by the one at depth {below + 1}"
            )
        if below + 1 < len(path) and not _may_sign_certificates(path[below + 1].cert):
            raise ValueError(
                f"the certificate at depth {below + 1} may not sign certificates (key usage)"
            )
        if below > 0 and not _is_ca(cert):
            raise ValueError(f"the certificate at depth {below} is not a CA certificate")
        _check_dates(cert, f"the certificate at depth {below}", now)
    if depth < len(path):
        anchor = path[depth].cert
        if not _is_ca(anchor):
            raise ValueError(f"the trust anchor at depth {depth} is not a CA certificate")
        if _self_issued(anchor):
            _check_dates(anchor, f"the self-signed trust anchor at depth {depth}", now)
    names = reference_names(path[0].cert)
    if not any(name_matches(name, pattern) for pattern in names):
        raise ValueError(
            f"the anchor matched, but {name} is not among the leaf's names "
            f"({escaped(', '.join(names)) or 'none'})"
        )


def _check_dates(cert: x509.Certificate, what: str, now: datetime) -> None:
    if not _valid_at(cert, now):
        raise ValueError(
            f"{what} is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _signed_with(cert: x509.Certificate, key: PublicKeyTypes) -> bool:
    """Whether `key` made the signature on `cert` (an anchor given as a bare SPKI)."""
    params, hashed = cert.signature_algorithm_parameters, cert.signature_hash_algorithm
    signed, signature = cert.tbs_certificate_bytes, cert.signature
    try:
        if isinstance(key, rsa.RSAPublicKey) and isinstance(params, padding.PKCS1v15 | padding.PSS):
            if hashed is None:
                return False
            key.verify(signature, signed, params, hashed)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(signature, signed, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, signed)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _may_sign_certificates(cert: x509.Certificate) -> bool:
    usage = _extension(cert, x509.KeyUsage)
    return usage is None or bool(usage.key_cert_sign)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def reference_names(cert: x509.Certificate) -> list[str]:
    """The DNS names a certificate is for: its SAN dNSNames, else (legacy) its subject CNs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        names = [
            str(attribute.value)
            for attribute in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
    return [n.rstrip(".").lower() for n in names]


def name_matches(name: str, pattern: str) -> bool:
    """RFC 6125 §6.4: exact (case-insensitive), or `*` as the whole left-most label.

    The wildcard matches exactly one label and needs at least two labels after it.
    """
    name, pattern = name.rstrip(".").lower(), pattern.rstrip(".").lower()
    if not pattern.startswith("*."):
        return "*" not in pattern and name == pattern
    rest = pattern[2:]
    if "*" in rest or rest.count(".") < 1:
        return False
    label, _, parent = name.partition(".")
    return bool(label) and parent == rest
