"""TLSA parameters (with RFC 7218 names), record data, and computing it from key material."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from tlsagen.errors import InputError, TlsagenError, UsageError

if TYPE_CHECKING:  # the value types import no cryptography: only compute() needs material
    from tlsagen.core.material import Material


class Usage(IntEnum):
    PKIX_TA = 0
    PKIX_EE = 1
    DANE_TA = 2
    DANE_EE = 3


class Selector(IntEnum):
    CERT = 0
    SPKI = 1


class MatchingType(IntEnum):
    FULL = 0
    SHA2_256 = 1
    SHA2_512 = 2


_DIGEST_LENGTHS: dict[int, int] = {MatchingType.SHA2_256: 32, MatchingType.SHA2_512: 64}


def _mnemonic(member: IntEnum) -> str:
    return member.name.lower().replace("_", "-")


def _parse_field(text: str, enum: type[IntEnum], field: str) -> int:
    """A field from its number or RFC 7218 mnemonic (case-insensitive)."""
    if text.isascii() and text.isdigit():
        # Leading zeros are allowed; the length check keeps int() off thousands of digits.
        if len(text.lstrip("0")) > 3 or int(text) > 255:
            raise UsageError(f"{field} {text} is out of range 0-255")
        return int(text)
    wanted = text.lower().replace("_", "-")
    for member in enum:
        if _mnemonic(member) == wanted:
            return int(member)
    names = ", ".join(f"{_mnemonic(m)} ({m.value})" for m in enum)
    raise UsageError(f"unknown {field} '{text}': use one of {names}")


@dataclass(frozen=True, order=True)
class Params:
    """Usage, selector and matching type: `3 1 1` or `dane-ee spki sha2-256`."""

    usage: int
    selector: int
    matching_type: int

    @classmethod
    def parse(cls, text: str) -> Params:
        parts = text.split()
        if len(parts) != 3:
            raise UsageError(
                f"parameters '{text}' must be three fields: usage selector matching-type "
                "(for example '3 1 1' or 'dane-ee spki sha2-256')"
            )
        return cls(
            _parse_field(parts[0], Usage, "usage"),
            _parse_field(parts[1], Selector, "selector"),
            _parse_field(parts[2], MatchingType, "matching type"),
        )

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.matching_type}"

    def names(self) -> str:
        """`DANE-EE SPKI SHA2-256` where the numbers are known."""
        fields = []
        for value, enum in (
            (self.usage, Usage),
            (self.selector, Selector),
            (self.matching_type, MatchingType),
        ):
            known = {int(member): member for member in enum}
            fields.append(_mnemonic(known[value]).upper() if value in known else str(value))
        return " ".join(fields)


DEFAULT_PARAMS = Params(3, 1, 1)


@dataclass(frozen=True, order=True)
class TLSAData:
    """One TLSA record's RDATA."""

    usage: int
    selector: int
    matching_type: int
    data: bytes

    @property
    def params(self) -> Params:
        return Params(self.usage, self.selector, self.matching_type)

    def to_text(self) -> str:
        """Presentation form: `3 1 1 <lowercase hex>`."""
        return f"{self.usage} {self.selector} {self.matching_type} {self.data.hex()}"

    def to_wire(self) -> bytes:
        return bytes((self.usage, self.selector, self.matching_type)) + self.data

    @classmethod
    def from_text(cls, text: str, check: bool = True) -> TLSAData:
        """Parse `U S M HEX` (numbers or RFC 7218 names; hex may be split by spaces); with
        `check`, refuse data whose length does not fit the matching type."""
        parts = text.replace("(", " ").replace(")", " ").split()
        if len(parts) < 4:
            raise UsageError(f"TLSA record '{text}' must be: usage selector matching-type hex-data")
        params = Params.parse(" ".join(parts[:3]))
        try:
            data = bytes.fromhex("".join(parts[3:]))
        except ValueError:
            raise UsageError(f"TLSA record '{text}': the data is not hexadecimal") from None
        record = cls(params.usage, params.selector, params.matching_type, data)
        if check:
            record.check_length()
        return record

    def check_length(self) -> None:
        expected = _DIGEST_LENGTHS.get(self.matching_type)
        if expected is not None and len(self.data) != expected:
            raise UsageError(
                f"TLSA record '{self.to_text()}': matching type {self.matching_type} needs "
                f"{expected} bytes of data, not {len(self.data)}"
            )
        if not self.data:
            raise UsageError(f"TLSA record '{self.to_text()}' has no data")


def digest(selected: bytes, matching_type: int) -> bytes:
    if matching_type == MatchingType.FULL:
        return selected
    if matching_type == MatchingType.SHA2_256:
        return hashlib.sha256(selected).digest()
    if matching_type == MatchingType.SHA2_512:
        return hashlib.sha512(selected).digest()
    raise UsageError(f"matching type {matching_type} is not defined (use 0, 1 or 2)")


def trust_anchor_index(material: Material, ta: str | None) -> int:
    """The chain position of the trust anchor for usages 0 and 2: `1` by default, or `root`."""
    if len(material.chain) < 2:
        what = "a bare key" if not material.chain else "a lone certificate"
        raise InputError(
            f"{material.source}: usage 0/2 pins a CA certificate, and {what} has none; "
            "give the full chain (fullchain.pem, leaf first)"
        )
    if ta is None:
        return 1
    if ta == "root":
        return len(material.chain) - 1
    if not (ta.isascii() and ta.isdigit()) or not 1 <= int(ta) < len(material.chain):
        raise UsageError(
            f"--ta {ta}: the chain in {material.source} has CA positions 1 to "
            f"{len(material.chain) - 1} (or 'root')"
        )
    return int(ta)


def compute(material: Material, params: Params, ta: str | None = None) -> TLSAData:
    """The TLSA RDATA for `material` under `params`."""
    if params.usage > 3:
        raise UsageError(f"usage {params.usage} is not defined (use 0-3)")
    if params.selector > 1:
        raise UsageError(f"selector {params.selector} is not defined (use 0 or 1)")
    from tlsagen.core.material import spki_of_certificate

    cert: bytes | None
    if params.usage in (Usage.PKIX_TA, Usage.DANE_TA):
        cert = material.chain[trust_anchor_index(material, ta)]
        spki = spki_of_certificate(cert)
    else:
        cert, spki = material.leaf, material.spki
    if params.selector == Selector.CERT:
        if cert is None:
            raise InputError(
                f"{material.source}: selector 0 (full certificate) needs a certificate, "
                f"and this is a {material.kind}; use selector 1 (SPKI)"
            )
        selected = cert
    else:
        selected = spki
    return TLSAData(
        params.usage, params.selector, params.matching_type, digest(selected, params.matching_type)
    )


def matches_key(record: TLSAData, keys: Iterable[Material]) -> str | None:
    """The source of the first of `keys` that `record` matches, if any."""
    for found in keys:
        try:
            if compute(found, record.params) == record:
                return found.source
        except TlsagenError:
            continue  # e.g. usage 2 asked of a lone certificate: it cannot match
    return None
