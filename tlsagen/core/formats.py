"""Rendering TLSA records for zone files, JSON, nsupdate and other DNS tools. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from tlsagen.core.records import Owner
from tlsagen.core.tlsa import TLSAData

FORMATS = ("zone", "json", "nsupdate", "generic", "octodns", "dnscontrol")
JSON_SCHEMA = 1


@dataclass(frozen=True)
class Record:
    """One record to print: where it came from, its owner, TTL and data."""

    source: str
    owner: Owner
    ttl: int
    data: TLSAData


def zone(records: Sequence[Record]) -> str:
    return "".join(f"{r.owner} {r.ttl} IN TLSA {r.data.to_text()}\n" for r in records)


def generic(records: Sequence[Record]) -> str:
    """RFC 3597 unknown-type form, for servers and tools that do not know TLSA."""
    lines = []
    for r in records:
        wire = r.data.to_wire()
        lines.append(f"{r.owner} {r.ttl} IN TYPE52 \\# {len(wire)} {wire.hex()}\n")
    return "".join(lines)


def as_json(records: Sequence[Record]) -> str:
    items = [
        {
            "source": r.source,
            "owner": r.owner.name,
            "ttl": r.ttl,
            "usage": r.data.usage,
            "selector": r.data.selector,
            "matching_type": r.data.matching_type,
            "data": r.data.data.hex(),
        }
        for r in records
    ]
    return json.dumps({"schema": JSON_SCHEMA, "records": items}, indent=2) + "\n"


def nsupdate(records: Sequence[Record]) -> str:
    """A script for `nsupdate -k KEYFILE`: replaces each owner's TLSA RRset with these records."""
    lines = []
    for owner in dict.fromkeys(r.owner for r in records):
        lines.append(f"update delete {owner} TLSA\n")
        lines.extend(
            f"update add {r.owner} {r.ttl} TLSA {r.data.to_text()}\n"
            for r in records
            if r.owner == owner
        )
    return "".join(lines) + "send\n"


def _relative(owner: Owner, zone_name: str | None) -> str:
    if zone_name and owner.name.endswith("." + zone_name):
        return owner.name[: -len(zone_name) - 1]
    return owner.name


def octodns(records: Sequence[Record], zone_name: str | None = None) -> str:
    """octoDNS YAML: one key per owner (relative to `zone_name` when given) with its TLSA values."""
    lines = []
    for owner in dict.fromkeys(r.owner for r in records):
        own = [r for r in records if r.owner == owner]
        lines.append(f"'{_relative(owner, zone_name)}':\n")
        lines.append(f"  ttl: {own[0].ttl}\n  type: TLSA\n  values:\n")
        for r in own:
            lines.append(
                f"  - certificate_usage: {r.data.usage}\n"
                f"    selector: {r.data.selector}\n"
                f"    matching_type: {r.data.matching_type}\n"
                f"    certificate_association_data: '{r.data.data.hex()}'\n"
            )
    return "".join(lines)


def dnscontrol(records: Sequence[Record], zone_name: str | None = None) -> str:
    """dnscontrol `TLSA(name, usage, selector, type, data, TTL(n))` calls, one per line."""
    return "".join(
        f'TLSA("{_relative(r.owner, zone_name)}", {r.data.usage}, {r.data.selector}, '
        f'{r.data.matching_type}, "{r.data.data.hex()}", TTL({r.ttl})),\n'
        for r in records
    )


def render(fmt: str, records: Sequence[Record], zone_name: str | None = None) -> str:
    if fmt == "zone":
        return zone(records)
    if fmt == "json":
        return as_json(records)
    if fmt == "nsupdate":
        return nsupdate(records)
    if fmt == "generic":
        return generic(records)
    if fmt == "octodns":
        return octodns(records, zone_name)
    if fmt == "dnscontrol":
        return dnscontrol(records, zone_name)
    raise ValueError(fmt)
