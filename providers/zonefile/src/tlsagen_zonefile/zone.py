"""What a zone file says: each record's owner, TTL, type and place in the text.

The rules follow dnspython's zone reader (RFC 1035 section 5.1, with $TTL winning over the last
stated TTL as in RFC 2308), so that the independent check in edit.py agrees with this reading.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.ttl

from tlsagen.provider import (
    InputError,
    Malformed,
    Owner,
    ProviderError,
    RRset,
    TLSAData,
    stored_record,
    stored_rrset,
)
from tlsagen_zonefile.lexer import Entry, Token, scan

MAX_INCLUDE_DEPTH = 10


@dataclass(frozen=True, slots=True)  # one per record: hundreds of thousands
class Record:
    """One resource record of the zone, and where it is written."""

    path: Path  # the zone file, or the included file that holds it
    entry: Entry
    name: dns.name.Name
    ttl: int
    rdtype: dns.rdatatype.RdataType
    rdata: tuple[Token, ...]
    origin: dns.name.Name | None  # in effect at this record, to write names relative to it

    def where(self) -> str:
        return f"{self.path}:{self.entry.line}"

    def tlsa(self) -> TLSAData | Malformed:
        """The record's TLSA data, whatever its length or fields; Malformed (its data as
        written) when it is not `U S M HEX` or `\\# LENGTH HEX` at all."""
        return stored_record(" ".join(token.text for token in self.rdata))


@dataclass(frozen=True)
class Zone:
    path: Path
    text: str
    origin: dns.name.Name
    entries: tuple[Entry, ...]  # of the zone file itself, directives included
    records: tuple[Record, ...]  # of the zone file and of every file it includes, in order
    soa: Record | None  # the first SOA record
    end_origin: dns.name.Name | None  # the origin in effect at the end of the zone file

    @functools.cached_property
    def _tlsa(self) -> dict[dns.name.Name, list[Record]]:
        """The TLSA records by owner name: looking owners up one by one stays linear."""
        found: dict[dns.name.Name, list[Record]] = defaultdict(list)
        for record in self.records:
            if record.rdtype == dns.rdatatype.TLSA:
                found[record.name].append(record)
        return found

    def tlsa_records(self, owner: Owner) -> list[Record]:
        return list(self._tlsa.get(dns.name.from_text(owner.name), ()))

    def rrset(self, owner: Owner) -> RRset | None:
        """The owner's TLSA RRset; with differing TTLs, the smallest (as a server would)."""
        records = self.tlsa_records(owner)
        if not records:
            return None
        return stored_rrset(owner, min(r.ttl for r in records), (r.tlsa() for r in records))


@dataclass(frozen=True)
class _State:
    origin: dns.name.Name | None
    last_name: dns.name.Name | None = None
    last_ttl: int | None = None  # the last TTL a record stated
    default_ttl: int | None = None  # from $TTL, or else from the SOA's MINIMUM
    default_from_soa: bool = False

    def implicit_ttl(self) -> int | None:
        if self.last_ttl is not None and (self.default_ttl is None or self.default_from_soa):
            return self.last_ttl
        return self.default_ttl


def parse_zone(path: Path, origin: dns.name.Name | None, read: Callable[[Path], str]) -> Zone:
    """Read the zone file at `path` (and the files it includes, relative to its directory).

    Without `origin`, the zone is the owner of the first SOA record, whose name must then be
    absolute or follow an absolute $ORIGIN.
    """
    text = read(path)
    entries = scan(text, str(path))
    records: list[Record] = []
    end = _Reader(path.parent, read, records).run(path, entries, _State(origin), depth=0)
    soa = next((r for r in records if r.rdtype == dns.rdatatype.SOA), None)
    if origin is None:
        if soa is None:
            raise ProviderError(
                f'{path} has no SOA record to tell its zone; set zone = "example.com"'
            )
        origin = soa.name
    elif soa is not None and soa.name != origin:
        raise ProviderError(f"{soa.where()}: the SOA is for {soa.name}, not for the zone {origin}")
    return Zone(path, text, origin, tuple(entries), tuple(records), soa, end.origin)


class _Reader:
    def __init__(self, base: Path, read: Callable[[Path], str], records: list[Record]) -> None:
        self.base = base
        self.read = read
        self.records = records

    def run(self, path: Path, entries: list[Entry], state: _State, depth: int) -> _State:
        for entry in entries:
            try:
                if entry.named and entry.tokens[0].text.startswith("$"):
                    state = self.directive(path, entry, state, depth)
                else:
                    state = self.record(path, entry, state)
            except (dns.exception.DNSException, ValueError) as exc:
                raise ProviderError(f"{path}:{entry.line}: {exc}") from None
        return state

    def directive(self, path: Path, entry: Entry, state: _State, depth: int) -> _State:
        keyword, *args = (token.text for token in entry.tokens)
        keyword = keyword.upper()
        if keyword == "$ORIGIN" and len(args) == 1:
            return replace(state, origin=_name(args[0], state.origin))
        if keyword == "$TTL" and len(args) == 1:
            return replace(state, default_ttl=dns.ttl.from_text(args[0]), default_from_soa=False)
        if keyword == "$INCLUDE" and len(args) in (1, 2):
            if depth >= MAX_INCLUDE_DEPTH:
                raise ValueError(f"$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep")
            included = self.included(path, entry, args[0])
            origin = _name(args[1], state.origin) if len(args) == 2 else state.origin
            inner = scan(self.read(included), str(included))
            self.run(included, inner, replace(state, origin=origin), depth + 1)
            return state  # an included file changes nothing in the file that includes it
        if keyword == "$GENERATE":
            return replace(state, last_name=None)  # not expanded: its names are unknown here
        raise ValueError(f"unsupported directive {' '.join([keyword, *args])}")

    def included(self, path: Path, entry: Entry, name: str) -> Path:
        """The file an $INCLUDE in `path` names: relative to the zone file's directory, and inside
        it once links are resolved (whoever may write the zone file may not read others)."""
        included = self.base / name.strip('"')
        inside = self.base.resolve()
        if not included.resolve().is_relative_to(inside):
            raise InputError(
                f"{path}:{entry.line}: $INCLUDE {name} is {included.resolve()}, outside the "
                f"zone file's directory {inside}; move the file into it"
            )
        return included

    def record(self, path: Path, entry: Entry, state: _State) -> _State:
        tokens = list(entry.tokens)
        if entry.named:
            owner = tokens.pop(0).text
            name = state.origin if owner == "@" else _name(owner, state.origin)
            if name is None:
                raise ValueError("'@' needs an origin; set zone = \"example.com\"")
            state = replace(state, last_name=name)
        elif state.last_name is None:
            raise ValueError("the record has no owner name to inherit")
        ttl: int | None = None
        while tokens and (ttl is None or tokens[0].text.upper() == "IN"):
            word = tokens[0].text
            if word.upper() == "IN":
                tokens.pop(0)
            elif word[0].isdigit():
                ttl = dns.ttl.from_text(tokens.pop(0).text)
                state = replace(state, last_ttl=ttl)
            else:
                break
        if not tokens:
            raise ValueError("the record has no type")
        word = tokens.pop(0).text
        try:
            rdtype = dns.rdatatype.from_text(word)
        except dns.rdatatype.UnknownRdatatype:
            raise ValueError(f"unknown record type '{word}'") from None
        if rdtype == dns.rdatatype.SOA and len(tokens) != 7:
            raise ValueError("the SOA record needs 7 fields: MNAME RNAME SERIAL ... MINIMUM")
        if rdtype == dns.rdatatype.SOA and state.default_ttl is None:
            minimum = dns.ttl.from_text(tokens[6].text)
            state = replace(state, default_ttl=minimum, default_from_soa=True)
        ttl = ttl if ttl is not None else state.implicit_ttl()
        if ttl is None:
            raise ValueError("the record has no TTL and there is no $TTL before it")
        assert state.last_name is not None
        record = Record(path, entry, state.last_name, ttl, rdtype, tuple(tokens), state.origin)
        self.records.append(record)
        return state


def _name(text: str, origin: dns.name.Name | None) -> dns.name.Name:
    name = dns.name.from_text(text, origin)
    if not name.is_absolute():
        raise ValueError(f"'{text}' is relative and no $ORIGIN is set; set zone = \"example.com\"")
    return name
