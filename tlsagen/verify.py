"""DANE matching (RFC 6698, 7671, 7672): does a served chain match a TLSA RRset? Pure.

`match` applies the client's rules in order: drop unusable records (undefined fields, wrong digest
length, PKIX usages), apply digest agility (RFC 7671 §9), then try each remaining record:
DANE-EE(3) against the leaf, ignoring names and dates (RFC 7671 §5.1); DANE-TA(2) against a CA
certificate the server sent (or, for Full(0) data, the issuer of the top certificate), then the
signatures and dates below it and the leaf's name (RFC 7671 §5.2, RFC 6125 wildcards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from tlsagen.errors import UsageError
from tlsagen.material import spki_of_certificate
from tlsagen.text import escaped
from tlsagen.tlsa import MatchingType, Selector, TLSAData, Usage, digest

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
    depth: int | None = None  # chain depth of the certificate it matched (0 = leaf)


@dataclass(frozen=True)
class MatchResult:
    matched: TLSAData | None  # the record that authenticates the chain, if any
    depth: int | None  # the depth at which it matched; len(chain) for an anchor not served
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
    """Match `chain` (DER, leaf first, as served) against `records` for reference name `name`."""
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
            results[record] = _dane_ta(record, certs, name.rstrip(".").lower(), now)
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
    return None


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
                    f"the certificate at depth {depth} cannot be read ({exc})"
                ) from None
        return self._parsed[depth]


def _dane_ee(record: TLSAData, certs: _Chain) -> RecordResult:
    if digest(certs.selected(0, record.selector), record.matching_type) == record.data:
        reason = "matches the leaf; DANE-EE ignores names and dates (RFC 7671 §5.1)"
        return RecordResult(record, MATCH, reason, 0)
    what = "certificate" if record.selector == Selector.CERT else "public key"
    return RecordResult(record, NO_MATCH, f"the leaf's {what} is different")


def _dane_ta(record: TLSAData, certs: _Chain, name: str, now: datetime) -> RecordResult:
    depths = [
        depth
        for depth in range(1, len(certs.ders))
        if digest(certs.selected(depth, record.selector), record.matching_type) == record.data
    ]
    if not depths:
        if record.matching_type != MatchingType.FULL:
            return RecordResult(
                record,
                NO_MATCH,
                "no CA certificate the server sent matches (DANE-TA needs the anchor in the chain)",
            )
        depths = [len(certs.ders)]  # Full(0) carries the anchor itself (RFC 7671 §5.2.2-5.2.3)
    failures = []
    for depth in depths:
        try:
            _check_below(record, certs, depth, name, now)
        except ValueError as exc:
            failures.append(str(exc))
            continue
        where = "above the chain (not served)" if depth == len(certs.ders) else f"at depth {depth}"
        return RecordResult(
            record, MATCH, f"trust anchor {where}; chain, dates and name valid", depth
        )
    return RecordResult(record, NO_MATCH, failures[0])


def _check_below(record: TLSAData, certs: _Chain, depth: int, name: str, now: datetime) -> None:
    """ValueError unless every certificate below the anchor at `depth` is sound for `name`."""
    for below in range(depth - 1, -1, -1):
        cert = certs.cert(below)
        if below == depth - 1 and depth == len(certs.ders):
            _issued_by_record(cert, record)
        elif not _issued_by(cert, certs.cert(below + 1)):
            raise ValueError(
                f"the certificate at depth {below} is not signed by the one at depth {below + 1}"
            )
        if below > 0 and not _is_ca(cert):
            raise ValueError(f"the certificate at depth {below} is not a CA certificate")
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ValueError(
                f"the certificate at depth {below} is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            )
    names = reference_names(certs.cert(0))
    if not any(name_matches(name, pattern) for pattern in names):
        raise ValueError(
            f"the anchor matched, but {name} is not among the leaf's names "
            f"({escaped(', '.join(names)) or 'none'})"
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _issued_by_record(cert: x509.Certificate, record: TLSAData) -> None:
    """ValueError unless the anchor carried in a Full(0) record signed `cert`."""
    if record.selector == Selector.CERT:
        try:
            anchor = x509.load_der_x509_certificate(record.data)
        except ValueError:
            raise ValueError("the record's data is not a certificate") from None
        if not _issued_by(cert, anchor):
            raise ValueError(
                "no certificate the server sent matches, and the record's "
                "certificate did not sign the top of the chain"
            )
        return
    try:
        key = serialization.load_der_public_key(record.data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("the record's data is not a public key") from None
    if not _signed_with(cert, key):
        raise ValueError(
            "no certificate the server sent matches, and the record's "
            "public key did not sign the top of the chain"
        )


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
