"""Make a change set in the text of a zone file, touching nothing but the lines it must.

Records that stay keep their lines byte for byte. A line goes when its record (or its TTL) is no
longer wanted; new records are written on new lines after the owner's last TLSA line, or after the
records of its host (or at the end of the file). When a removed line named the owner that the
lines after it inherit, the first of those lines gets the name. The SOA serial is the only token
changed inside a kept line. dnspython's zone reader then checks the result: the new text must
hold exactly the old zone with the changes made, or nothing is written.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.zone

from tlsagen.provider import Change, ProviderError, TLSAData, to_rdatas
from tlsagen_zonefile.lexer import Entry
from tlsagen_zonefile.zone import Record, Zone

_INCLUDE = re.compile(r"^\$INCLUDE[ \t].*$", re.MULTILINE | re.IGNORECASE)
Edit = tuple[int, int, str]  # replace text[start:end] by the string
_Contents = dict[tuple[dns.name.Name, int], tuple[int, frozenset[dns.rdata.Rdata]]]


def current_serial(zone: Zone) -> int:
    soa = _soa(zone)
    serial = soa.rdata[2].text
    if not (serial.isascii() and serial.isdigit()) or int(serial) >= 2**32:
        raise ProviderError(
            f"{soa.where()}: the SOA serial '{serial}' is not a number 0-4294967295"
        )
    return int(serial)


def edit(zone: Zone, changes: Sequence[Change], serial: int | None) -> str:
    """The text of `zone` with `changes` made and the SOA serial set to `serial` (None: kept)."""
    main = {r.entry: r for r in zone.records if r.path == zone.path}
    last_of_host = {_host_of(r.name): r for r in main.values()}
    newline = "\r\n" if "\r\n" in zone.text else "\n"
    removed: set[Entry] = set()
    inserts: dict[int, list[str]] = defaultdict(list)  # offset -> lines to insert there
    for change in changes:
        records, after = _own_tlsa(zone, change), change.after
        kept: set[TLSAData] = set()
        for record in records:
            data = record.tlsa()
            if (
                isinstance(data, TLSAData)
                and after
                and data in after.records
                and record.ttl == after.ttl
                and data not in kept
            ):
                kept.add(data)
            else:
                removed.add(record.entry)  # malformed lines too
        if after is None or after.records == kept:
            continue
        anchor = records[-1] if records else last_of_host.get(_host_of(change.owner.name))
        at = anchor.entry.end if anchor else len(zone.text)
        owner = _name_text(
            dns.name.from_text(change.owner.name), anchor.origin if anchor else zone.end_origin
        )
        for data in sorted(after.records - kept):
            inserts[at].append(f"{owner} {after.ttl} IN TLSA {data.to_text()}{newline}")
    edits = [(e.start, e.end, "") for e in removed]
    edits += _hand_over_names(zone, main, removed, set(inserts))
    for at, lines in inserts.items():
        edits.append((at, at, _line_break(zone, at, removed, newline) + "".join(lines)))
    if serial is not None:
        token = _soa(zone).rdata[2]
        edits.append((token.start, token.end, str(serial)))
    _check(zone, edits, removed, changes, serial)
    return _apply(zone.text, edits)


def _soa(zone: Zone) -> Record:
    if zone.soa is None:
        raise ProviderError(f'{zone.path} has no SOA record; set serial = "keep"')
    if zone.soa.path != zone.path:
        raise ProviderError(
            f"the SOA of {zone.origin} is in {zone.soa.where()}, not in {zone.path}; "
            'set serial = "keep"'
        )
    return zone.soa


def _own_tlsa(zone: Zone, change: Change) -> list[Record]:
    """The TLSA lines of the owner, which must all be in the zone file itself."""
    records = zone.tlsa_records(change.owner)
    for record in records:
        if record.path != zone.path:
            raise ProviderError(
                f"the TLSA records of {change.owner} are in {record.where()}, a file that "
                f"{zone.path} includes; tlsagen edits only the zone file itself"
            )
    return records


def _host_of(name: dns.name.Name | str) -> dns.name.Name:
    """A name without its leading `_port._proto` labels. New TLSA lines go after the zone file's
    last record of the owner's host or of a name under it made of such labels (one dictionary
    lookup per owner: host names have no `_` label)."""
    labels = dns.name.from_text(name).labels if isinstance(name, str) else name.labels
    first = 0
    while first < len(labels) - 1 and labels[first].startswith(b"_"):
        first += 1
    return dns.name.Name(labels[first:])


def _hand_over_names(
    zone: Zone, main: dict[Entry, Record], removed: set[Entry], inserts: set[int]
) -> list[Edit]:
    """Give the owner name of each removed line to the first kept line that inherited it."""
    edits: list[Edit] = []
    orphaned: Record | None = None  # a removed record whose name later lines still inherit
    for entry in zone.entries:
        record = main.get(entry)
        if record is None:  # a directive
            pass
        elif entry in removed:
            orphaned = record if entry.named else orphaned
        elif entry.named:
            orphaned = None
        elif orphaned is not None:
            name = _name_text(orphaned.name, record.origin)
            indent = zone.text[entry.start : entry.tokens[0].start]
            edits.append((entry.start, entry.tokens[0].start, name + (indent[len(name) :] or " ")))
            orphaned = None
        if entry.end in inserts:
            orphaned = None  # the inserted lines name the owner again
    return edits


def _line_break(zone: Zone, at: int, removed: set[Entry], newline: str) -> str:
    """The newline that lines inserted at `at` need first: when it is the end of a file whose
    last line has none, and that line stays."""
    text = zone.text
    if at < len(text) or text.endswith("\n") or not text:
        return ""
    last = zone.entries[-1] if zone.entries else None
    return "" if last and last.end == len(text) and last in removed else newline


def _name_text(name: dns.name.Name, origin: dns.name.Name | None) -> str:
    if origin is not None and name.is_subdomain(origin):
        return name.relativize(origin).to_text()
    return name.to_text()


def _apply(text: str, edits: list[Edit]) -> str:
    parts, position = [], 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        parts += [text[position:start], replacement]
        position = end
    return "".join([*parts, text[position:]])


def _check(
    zone: Zone,
    edits: list[Edit],
    removed: set[Entry],
    changes: Sequence[Change],
    serial: int | None,
) -> None:
    """dnspython must read the text `edits` make as the old zone with exactly these changes
    made. TLSA lines dnspython refuses (malformed, or a digest of the wrong length) hold a
    placeholder in both texts, where they stay; those of the owners changed go."""
    stand_ins = _stand_ins(zone)
    kept = [edit for entry, edit in stand_ins.items() if entry not in removed]
    text = _apply(zone.text, [*edits, *kept])
    expected = _contents(zone, _apply(zone.text, list(stand_ins.values())))
    for change in changes:
        key = (dns.name.from_text(change.owner.name), dns.rdatatype.TLSA)
        if change.after is None:
            expected.pop(key, None)
        else:
            records = frozenset(to_rdatas(change.after))
            expected[key] = (change.after.ttl, records)
    soa_key = (zone.origin, dns.rdatatype.SOA)
    if serial is not None and soa_key in expected:
        ttl, soa = expected[soa_key]
        expected[soa_key] = (ttl, frozenset(_with_serial(rdata, serial) for rdata in soa))
    if _contents(zone, text) != expected:
        raise ProviderError(
            f"editing {zone.path} would change more than the TLSA records asked for "
            "(a bug in tlsagen-zonefile: please report it with the zone file); nothing was written"
        )


def _stand_ins(zone: Zone) -> dict[Entry, Edit]:
    """For each TLSA line of the zone file whose data dnspython refuses, an edit that puts in
    its place data it reads (full-data TLSA, unique to the line)."""
    found = {}
    for record in zone.records:
        if record.path != zone.path or record.rdtype != dns.rdatatype.TLSA:
            continue
        text = " ".join(token.text for token in record.rdata)
        try:
            dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, text)
        except dns.exception.DNSException:
            stand_in = f" 0 0 0 {record.entry.start:016x} "
            if record.rdata:
                found[record.entry] = (record.rdata[0].start, record.rdata[-1].end, stand_in)
            else:  # right after the type
                end = record.entry.tokens[-1].end
                found[record.entry] = (end, end, stand_in)
    return found


def _contents(zone: Zone, text: str) -> _Contents:
    """Every RRset of the zone file itself ($INCLUDE lines left out), as dnspython reads it."""
    try:
        parsed = dns.zone.from_text(
            _INCLUDE.sub("", text), zone.origin, relativize=False, check_origin=False
        )
    except dns.exception.DNSException as exc:
        raise ProviderError(f"{zone.path}: dnspython cannot read the zone file: {exc}") from None
    return {
        (name, rdataset.rdtype): (rdataset.ttl, frozenset(rdataset))
        for name, node in parsed.nodes.items()
        for rdataset in node.rdatasets
    }


def _with_serial(rdata: dns.rdata.Rdata, serial: int) -> dns.rdata.Rdata:
    assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
    return rdata.replace(serial=serial)
