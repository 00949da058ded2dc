"""Between tlsagen records and DNS messages: compare-and-swap UPDATEs, their size, and answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update

from tlsagen.provider import (
    Change,
    Owner,
    ProviderError,
    RRset,
    to_rdatas,
    to_rrset,
)

MAX_MESSAGE = 65535  # a DNS message over TCP
# Header, zone section and TSIG record: under 700 octets even with 255-octet zone and key names.
_RESERVE = 1024
_RR_FIXED = 10  # type, class, TTL and RDLENGTH of a resource record


def build_update(
    zone: str, changes: Iterable[Change], key: dns.tsig.Key
) -> dns.update.UpdateMessage:
    """One UPDATE: for each owner, require exactly the RRset read (malformed records too), then
    replace or delete it."""
    update = dns.update.UpdateMessage(zone, keyring=key)
    for change in changes:
        name = dns.name.from_text(change.owner.name)
        if change.before and (change.before.records or change.before.malformed):
            # Rdatas, not an rdataset: the prerequisite TTL must be 0 (BIND answers FORMERR).
            update.present(name, *to_rdatas(change.before))
        else:
            update.absent(name, dns.rdatatype.TLSA)
        if change.after and change.after.records:
            update.replace(name, change.after.ttl, *to_rdatas(change.after))
        else:
            update.delete(name, dns.rdatatype.TLSA)
    return update


def wire_size(change: Change) -> int:
    """The octets `change` adds to an UPDATE, never less: its owner name in full once, then a
    2-octet pointer to it in each further record (dnspython compresses every owner name; the
    name appears nowhere else in the message)."""
    name = len(dns.name.from_text(change.owner.name).to_digestable())
    before = _lengths(change.before) if change.before else []
    after = _lengths(change.after) if change.after else []
    # Prerequisite: one RR per record read, or one "does not exist" RR; update: delete + adds.
    count = (len(before) or 1) + 1 + len(after)
    return name + 2 * (count - 1) + count * _RR_FIXED + sum(before) + sum(after)


def _lengths(rrset: RRset) -> list[int]:
    if rrset.malformed:  # rare: each record's octets as the server holds them
        return [len(rdata.to_digestable()) for rdata in to_rdatas(rrset)]
    return [len(record.to_wire()) for record in rrset.records]


def split(changes: Sequence[Change]) -> list[tuple[Change, ...]]:
    """The changes in order, cut into groups whose UPDATE fits MAX_MESSAGE octets; owners stay
    whole."""
    groups: list[tuple[Change, ...]] = []
    group: list[Change] = []
    size = _RESERVE
    for change in changes:
        cost = wire_size(change)
        if _RESERVE + cost > MAX_MESSAGE:
            raise ProviderError(
                f"the TLSA change of {change.owner} alone needs {cost} octets, more than one "
                f"DNS UPDATE can carry ({MAX_MESSAGE}); publish fewer or smaller records"
            )
        if size + cost > MAX_MESSAGE:
            groups.append(tuple(group))
            group, size = [], _RESERVE
        group.append(change)
        size += cost
    if group:
        groups.append(tuple(group))
    return groups


def rrset_at(owner: Owner, rrsets: Iterable[dns.rrset.RRset]) -> RRset | None:
    """The TLSA RRset of `owner` among `rrsets` (an answer section, or a zone transfer, where one
    RRset may come in several pieces), or None."""
    name = dns.name.from_text(owner.name)
    pieces = []
    for rrset in rrsets:
        if rrset.name != name:
            continue
        if rrset.rdtype == dns.rdatatype.CNAME:
            raise ProviderError(
                f"{owner} is an alias (CNAME), and a DNS server ignores TLSA records added next "
                "to one: remove the CNAME, or publish at its target yourself"
            )
        if rrset.rdtype == dns.rdatatype.TLSA:
            pieces.append(to_rrset(owner, rrset))
    if not pieces:
        return None
    records = frozenset(record for piece in pieces for record in piece.records)
    malformed = frozenset(item for piece in pieces for item in piece.malformed)
    return RRset(owner, min(piece.ttl for piece in pieces), records, malformed)
