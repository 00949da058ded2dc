"""Owner names, TLSA RRsets, and the changes that turn what DNS holds into what is desired."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, ProviderError, UsageError

PROTOCOLS = ("tcp", "udp", "sctp")
_LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # fullmatch: `$` would allow a "\n"


def host_name(host: str) -> str:
    """An absolute, lowercase A-label host name (`mx1.example.com.`); UsageError with the reason."""
    text = host.strip().removesuffix(".")
    if not text:
        raise UsageError("host name is empty")
    if not text.isascii():
        import idna  # only Unicode names need it, and it is slow to import

        try:
            text = idna.encode(text, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise UsageError(f"host name '{host}' is not valid: {exc}") from None
    name = text.lower() + "."
    _check_length("host name", name)  # first: a megabyte of labels is refused at once
    for label in name.split(".")[:-1]:
        if not label:
            raise UsageError(f"host name '{host}' is not valid: it has an empty label")
        if len(label) > 63:
            raise UsageError(f"host name '{host}' is not valid: label '{label}' is over 63 octets")
        if not _LDH_LABEL.fullmatch(label):
            raise UsageError(
                f"host name '{host}': label '{label}' may hold only letters, digits and inner "
                "hyphens"
            )
    return name


def _check_length(what: str, name: str) -> None:
    """UsageError when an absolute name is over 255 octets in wire form (a length octet for each
    label, one for the root)."""
    if len(name) + 1 > 255:
        shown = name if len(name) < 300 else f"{name[:60]}... ({len(name) + 1} octets)"
        raise UsageError(f"{what} {shown} is longer than 255 octets")


@dataclass(frozen=True, order=True)
class Owner:
    """A TLSA owner name, absolute and lowercase: `_25._tcp.mx1.example.com.`."""

    name: str

    @classmethod
    def for_service(cls, host: str, port: int, proto: str = "tcp") -> Owner:
        if not 0 < port < 65536:
            raise UsageError(f"port {port} is out of range 1-65535")
        if proto not in PROTOCOLS:
            raise UsageError(f"protocol '{proto}' is not one of {', '.join(PROTOCOLS)}")
        name = f"_{port}._{proto}.{host_name(host)}"
        _check_length("owner name", name)
        return cls(name)

    @property
    def host(self) -> str:
        return self.name.split(".", 2)[2]

    @property
    def port(self) -> int:
        return int(self.name.split(".", 1)[0][1:])

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, order=True)
class Malformed:
    """A record at a TLSA owner that is not TLSA data at all (rdata under 3 octets, text that is
    not `U S M HEX`), as the provider or server stored it, and why it cannot be read. Records that
    parse but that tlsagen would never write (a digest of the wrong length, undefined fields,
    empty data) are TLSAData; `verify` and the lints judge those."""

    text: str  # as stored; remote text: escape it before it reaches a terminal
    reason: str


@dataclass(frozen=True)
class RRset:
    """The TLSA RRset at one owner: one TTL, a set of records, and the records stored there that
    are not TLSA data (never desired: a change that repairs the owner removes them)."""

    owner: Owner
    ttl: int
    records: frozenset[TLSAData]
    malformed: frozenset[Malformed] = frozenset()

    def texts(self) -> list[str]:
        return sorted(record.to_text() for record in self.records)


@dataclass(frozen=True)
class Change:
    """Replace `before` (None: the owner has no TLSA RRset) with `after` (None: delete it)."""

    owner: Owner
    before: RRset | None
    after: RRset | None

    @property
    def added(self) -> frozenset[TLSAData]:
        old = self.before.records if self.before else frozenset()
        return (self.after.records if self.after else frozenset()) - old

    @property
    def removed(self) -> frozenset[TLSAData]:
        new = self.after.records if self.after else frozenset()
        return (self.before.records if self.before else frozenset()) - new


@dataclass(frozen=True)
class ChangeSet:
    """Changes to the owners of one zone, applied whole or not at all."""

    zone: str
    changes: tuple[Change, ...]


def diff(
    desired: Mapping[Owner, RRset | None], current: Mapping[Owner, RRset]
) -> tuple[Change, ...]:
    """The changes, ordered by owner, that make `current` hold `desired` for each desired owner."""
    return tuple(
        Change(owner, current.get(owner), want)
        for owner, want in sorted(desired.items())
        if current.get(owner) != want
    )


def holds_every_after(held: Mapping[Owner, RRset], changes: Iterable[Change]) -> bool:
    """Whether DNS, holding `held`, already has every change's `after`: a change that went
    through although its sender saw a failure (a lost reply, a retry), so nothing is left to do."""
    return all(held.get(change.owner) == change.after for change in changes)


def already_applied(
    held: Mapping[Owner, RRset], changes: Sequence[Change], where: str = ""
) -> bool:
    """The compare-and-swap verdict on `changes` against what DNS holds (`held`, read just
    now): True when it holds every `after` (applied already, by a retry or a lost reply: nothing
    is left to do), False when it holds every `before` (not applied: go ahead); otherwise
    ConflictError naming the owners that moved (`where`: " in Route 53", for the message)."""
    if holds_every_after(held, changes):
        return True
    moved = [change.owner for change in changes if held.get(change.owner) != change.before]
    if not moved:
        return False
    more = f" (and {len(moved) - 1} more)" if len(moved) > 1 else ""
    raise ConflictError(
        f"{moved[0]}{more} changed{where} since it was read, so the change was not applied; run "
        "again to plan from what DNS holds now"
    )


def settle_unanswered(
    read: Callable[[], Mapping[Owner, RRset]], changes: Sequence[Change], unanswered: ProviderError
) -> None:
    """After a write whose answer never came (`unanswered`): return when DNS, read again, holds
    every `after` (the write went through); otherwise ProviderError saying what is known: not
    applied yet (a server still working on it may apply it later), or, when the read fails too,
    maybe applied."""
    try:
        held = read()
    except ProviderError as exc:
        raise ProviderError(
            f"{unanswered}, and reading the zone back failed ({exc}): it may have been applied; "
            "run again to check"
        ) from None
    if not holds_every_after(held, changes):
        raise ProviderError(
            f"{unanswered}; the zone does not hold the change, so it is not applied (a server "
            "still working on it could apply it later: run again to check)"
        )


def rrset(owner: Owner, ttl: int, records: Iterable[TLSAData]) -> RRset:
    return RRset(owner, ttl, frozenset(records))


def stored_rrset(owner: Owner, ttl: int, items: Iterable[TLSAData | Malformed]) -> RRset:
    """The RRset of records read as `stored_record` (or from the wire) gives them."""
    read = list(items)
    return RRset(
        owner,
        ttl,
        frozenset(item for item in read if isinstance(item, TLSAData)),
        frozenset(item for item in read if isinstance(item, Malformed)),
    )


def stored_record(text: str) -> TLSAData | Malformed:
    """A TLSA record as a provider stores it, in presentation form (`U S M HEX`, or RFC 3597's
    generic `\\# LENGTH HEX`): TLSAData whatever its data length or field values (even none),
    else Malformed with the reason."""
    fields = text.split()
    if fields[:1] == ["\\#"]:
        return _generic(text)
    numbers = fields[:3]
    if len(numbers) < 3 or not all(_is_octet(field) for field in numbers):
        return Malformed(text, "it does not start with usage, selector and matching type (0-255)")
    try:
        data = bytes.fromhex("".join(fields[3:]))
    except ValueError:
        return Malformed(text, "its data is not hexadecimal")
    usage, selector, mtype = (int(field) for field in numbers)
    return TLSAData(usage, selector, mtype, data)


def _is_octet(field: str) -> bool:
    return field.isascii() and field.isdigit() and len(field.lstrip("0")) <= 3 and int(field) < 256


def _generic(text: str) -> TLSAData | Malformed:
    """`\\# LENGTH HEX`: TLSAData when the length is right and covers the three fields."""
    try:
        wire = generic_octets(text)
    except ValueError as exc:
        return Malformed(text, str(exc))
    if len(wire) < 3:
        return Malformed(
            text, f"its {len(wire)} octet(s) cannot hold usage, selector and matching type"
        )
    return TLSAData(wire[0], wire[1], wire[2], wire[3:])


def generic_octets(text: str) -> bytes:
    """The rdata of RFC 3597's generic form `\\# LENGTH HEX`; ValueError saying what is wrong."""
    marker, *fields = text.split() or [""]
    if marker != "\\#" or not fields:
        raise ValueError("it is not in the generic form \\# LENGTH HEX")
    length = fields[0]
    if not (length.isascii() and length.isdigit() and len(length) <= 5):
        raise ValueError("its generic form (\\# LENGTH HEX) has no length")
    try:
        wire = bytes.fromhex("".join(fields[1:]))
    except ValueError:
        raise ValueError("its data is not hexadecimal") from None
    if len(wire) != int(length):
        raise ValueError(f"it says {int(length)} octets and holds {len(wire)}")
    return wire
