"""Lints: parameter choices that are fragile or wrong for a port (RFC 7671, RFC 7672)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tlsagen.core.material import Material, dates_and_ca
from tlsagen.core.tlsa import Params

MAX_RRSET_RECORDS = 8
SMTP_PORTS = (25,)


def lint_params(params: Sequence[Params], port: int) -> list[str]:
    """Warnings about a parameter set, independent of the key material."""
    warnings = []
    chosen = set(params)
    for p in sorted(chosen):
        if p.usage in (0, 1) and port in SMTP_PORTS:
            warnings.append(
                f"{p}: usages 0 and 1 (PKIX) are unusable for SMTP (RFC 7672 3.1.3); "
                "publish 3 1 1 (and optionally 2 1 1)"
            )
        if p.usage == 3 and p.selector == 0:
            warnings.append(
                f"{p}: selector 0 hashes the whole certificate, which changes at every renewal "
                "even with the same key; use 3 1 1"
            )
        if p.matching_type == 0:
            warnings.append(
                f"{p}: matching type 0 publishes the full data; large RRsets fall back to TCP "
                "(RFC 7671 10.1); prefer a SHA-256 digest"
            )
        if p.matching_type == 2 and Params(p.usage, p.selector, 1) not in chosen:
            warnings.append(
                f"{p}: a SHA-512 record should come with {p.usage} {p.selector} 1 "
                "(SHA-256 is the one every client implements)"
            )
        if p.usage == 2 and not any(q.usage == 3 for q in chosen):
            warnings.append(
                f"{p}: DANE-TA pins the issuing CA; when the CA rotates intermediates "
                "(Let's Encrypt does) the record stops matching; publish 3 1 1 beside it"
            )
    return warnings


def lint_material(material: Material, now: datetime) -> list[str]:
    """Warnings about a source: chain order, validity dates, weak keys."""
    warnings = list(material.warnings)
    if not material.chain:
        return warnings
    not_before, not_after, is_ca = dates_and_ca(material.chain[0])
    if is_ca and len(material.chain) > 1:
        warnings.append(
            f"{material.source}: the first certificate is a CA certificate; a bundle should "
            "start with the server's own (leaf) certificate (wrong order?)"
        )
    if now > not_after:
        warnings.append(
            f"{material.source}: the certificate expired on {not_after:%Y-%m-%d} "
            "(DANE-EE ignores dates, but other clients will not)"
        )
    elif now < not_before:
        warnings.append(
            f"{material.source}: the certificate is not valid before "
            f"{not_before:%Y-%m-%d %H:%M} UTC"
        )
    return warnings


def lint_rrset_size(owner: str, count: int) -> list[str]:
    if count > MAX_RRSET_RECORDS:
        return [
            f"{owner}: {count} records; some senders use only the first dozen or so, "
            f"keep it at {MAX_RRSET_RECORDS} or fewer"
        ]
    return []
