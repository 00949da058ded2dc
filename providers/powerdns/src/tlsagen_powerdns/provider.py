"""The PowerDNS provider: zone lookup, reads of TLSA RRsets, PATCHes of whole RRsets.

The compare-and-swap promise (the API has no conditional update; docs/providers/powerdns.md):
1. `apply` reads the owners first. If PowerDNS no longer holds every `before`, it raises
   ConflictError (or returns, when it already holds every `after`: a retried run) and sends
   nothing.
2. One PATCH carries every owner of the change set (REPLACE or DELETE of the whole RRset);
   PowerDNS applies it in one transaction: all owners or none.
3. It reads the owners again. If they do not hold every `after`, another writer changed them
   after step 1: ConflictError, saying that its change or ours may be the one DNS holds.
What is not guaranteed: a writer whose change lands between step 1 and step 2 (the time of one
request) is overwritten without notice, as any PATCH of a whole RRset would do.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tlsagen.provider import (
    Change,
    ChangeSet,
    ConflictError,
    Endpoint,
    InputError,
    Malformed,
    Owner,
    ProviderError,
    ReadsNoServer,
    RRset,
    TLSAData,
    holds_every_after,
    settle_unanswered,
)
from tlsagen_powerdns.api import Api, ApiError, Unanswered, quoted
from tlsagen_powerdns.settings import Settings

log = logging.getLogger("tlsagen")
NOT_TLSA = "not a TLSA record (usage selector matching-type hex)"
DISABLED = "disabled in PowerDNS: stored, but not served"


class PowerDnsProvider(ReadsNoServer):
    """Publishes TLSA RRsets through one PowerDNS server's API. One instance serves one run."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self._api = api
        self._settings = settings
        self._ids: dict[str, str] | None = None  # zone name -> the API's zone id

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        """The longest zone on the server that holds each owner (the zones are listed once)."""
        names = self._zone_ids()
        found = {}
        for owner in owners:
            holding = [zone for zone in names if _within(owner.name, zone)]
            if not holding:
                raise ProviderError(
                    f"no zone on the PowerDNS server at {self._settings.api_url} holds {owner} "
                    f"({len(names)} zone(s) there); create the zone, or check api-url and "
                    f"server-id in {self._settings.where}"
                )
            found[owner] = max(holding, key=len)
        return found

    def _zone_ids(self) -> dict[str, str]:
        if self._ids is None:
            try:
                listed = self._api.get("/zones")
            except ApiError as exc:
                if exc.status != 404:
                    raise
                raise InputError(
                    f"{self._settings.where}: PowerDNS at {self._settings.api_url} has no server "
                    f"'{quoted(self._settings.server_id)}' (HTTP 404); check server-id (usually "
                    "localhost) and api-url"
                ) from None
            if not isinstance(listed, list):
                raise ProviderError(f"{self._settings.api_url}: the zone list is not a list")
            self._ids = {
                _absolute(zone["name"]): str(zone["id"])
                for zone in listed
                if isinstance(zone, dict) and "name" in zone and "id" in zone
            }
        return self._ids

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        """One GET of the zone, whatever the number of owners."""
        held = self._read_zone(zone)
        return {owner: held[owner.name] for owner in owners if owner.name in held}

    def _read_zone(self, zone: str) -> dict[str, RRset]:
        try:
            document = self._api.get(self._zone_path(zone))
        except ApiError as exc:
            if exc.status == 500:  # what PowerDNS 4.7 answers for a record it cannot parse
                raise ProviderError(
                    f"{exc}; if the server's log says 'Parsing record content', the zone holds "
                    f"a record PowerDNS cannot read: run pdnsutil check-zone {zone.rstrip('.')}"
                ) from None
            if exc.status not in (404, 422):
                raise
            raise ProviderError(
                f"zone {zone} is not on the PowerDNS server at {self._settings.api_url} "
                f"(HTTP {exc.status}); was it deleted?"
            ) from None
        rrsets = document.get("rrsets") if isinstance(document, dict) else None
        if not isinstance(rrsets, list):
            raise ProviderError(f"{self._settings.api_url}: the zone {zone} has no rrsets list")
        held = {}
        for item in rrsets:
            if isinstance(item, dict) and item.get("type") == "TLSA":
                name = _absolute(str(item.get("name", "")))
                held[name] = _rrset(Owner(name), item)
        return held

    def _zone_path(self, zone: str) -> str:
        ids = self._zone_ids()
        if zone not in ids:
            raise ProviderError(f"zone {zone} is not on the PowerDNS server")
        return "/zones/" + urllib.parse.quote(ids[zone], safe="=.")

    def apply(self, changes: ChangeSet) -> None:
        """Read, PATCH every owner at once, read back (the module docstring says why)."""
        group = changes.changes
        if not group:
            return
        zone = changes.zone
        owners = [change.owner for change in group]
        held = self.read(zone, owners)
        stale = [change.owner for change in group if held.get(change.owner) != change.before]
        if stale:
            if holds_every_after(held, group):
                log.debug("%s already holds the change of %d owners", zone, len(group))
                return
            raise ConflictError(
                f"{stale[0]}{_more(stale)} changed in PowerDNS since it was read, so nothing was "
                "applied; run again to plan from what DNS holds now"
            )
        try:
            self._api.patch(self._zone_path(zone), {"rrsets": [_patch(c) for c in group]})
        except Unanswered as exc:
            self._decide(zone, group, exc)
            return
        self._confirm(zone, group)

    def _decide(self, zone: str, group: Sequence[Change], unanswered: Unanswered) -> None:
        """After a PATCH without an answer that tells: done when DNS holds every `after`."""
        owners = [change.owner for change in group]
        settle_unanswered(lambda: self.read(zone, owners), group, unanswered)
        log.warning("%s holds the change all the same", zone)

    def _confirm(self, zone: str, group: Sequence[Change]) -> None:
        """Read back after an accepted PATCH: every `before` still there means the server did
        not apply it; anything else but every `after` is another writer's."""
        try:
            held = self.read(zone, [change.owner for change in group])
        except ProviderError as exc:
            log.warning("PowerDNS accepted the change of %s; reading it back failed: %s", zone, exc)
            return
        moved = [change.owner for change in group if held.get(change.owner) != change.after]
        if not moved:
            return
        if all(held.get(change.owner) == change.before for change in group):
            raise ProviderError(
                f"PowerDNS answered the PATCH of {zone} as done, but the zone does not hold the "
                "change: nothing was applied; check the server's log (or a proxy in front of "
                "it), then run again"
            )
        raise ConflictError(
            f"{moved[0]}{_more(moved)} changed in PowerDNS right after this run wrote it: "
            "another writer got in at the same time, and DNS holds its change (ours may be "
            "overwritten); run again to plan from what DNS holds now"
        )

    def servers(self, zone: str) -> Sequence[Endpoint]:
        return self._settings.nameservers


def _within(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def _absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def _more(owners: Sequence[Owner]) -> str:
    return f" (and {len(owners) - 1} more)" if len(owners) > 1 else ""


def _rrset(owner: Owner, item: Mapping[str, Any]) -> RRset:
    records: set[TLSAData] = set()
    malformed: set[Malformed] = set()
    for entry in item.get("records") or ():
        content = str(entry.get("content", "")) if isinstance(entry, dict) else str(entry)
        parsed = _tlsa(content)
        if isinstance(entry, dict) and entry.get("disabled"):
            malformed.add(Malformed(content, DISABLED))
        elif parsed is None:
            malformed.add(Malformed(content, NOT_TLSA))
        else:
            records.add(parsed)
    ttl = item.get("ttl")
    return RRset(
        owner, ttl if isinstance(ttl, int) else 0, frozenset(records), frozenset(malformed)
    )


def _tlsa(content: str) -> TLSAData | None:
    """`U S M HEX` as TLSA data (whatever the length of HEX), else None."""
    parts = content.split()
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and int(p) < 256 for p in parts[:3]):
        return None
    try:
        data = bytes.fromhex(parts[3])
    except ValueError:
        return None
    return TLSAData(int(parts[0]), int(parts[1]), int(parts[2]), data)


def _patch(change: Change) -> dict[str, Any]:
    """The PATCH entry that makes the owner hold `after`: REPLACE the RRset, or DELETE it."""
    entry: dict[str, Any] = {"name": change.owner.name, "type": "TLSA"}
    if change.after is None:
        return {**entry, "changetype": "DELETE"}
    records = [{"content": text, "disabled": False} for text in change.after.texts()]
    return {**entry, "changetype": "REPLACE", "ttl": change.after.ttl, "records": records}
