"""The Cloudflare provider: zones, TLSA records as structured `data`, one batch per change set.

The API v4 has no conditional write. `apply` reads the owners first and refuses a stale plan
(ConflictError) before it sends anything; it then sends one POST .../dns_records/batch, which
Cloudflare runs in one database transaction (all or nothing). The batch deletes records by id,
so a record another writer deleted in the meantime makes the whole batch fail; a record another
writer added in the meantime does not, and the read-back after the write reports it (exit 5).
See tlsagen.net.webapi.compare_and_swap and docs/providers/cloudflare.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tlsagen.provider import (
    Answer,
    ApiSettings,
    Change,
    ChangeSet,
    Endpoint,
    InputError,
    Malformed,
    Owner,
    ProviderError,
    ProviderSettings,
    ReadsNoServer,
    RRset,
    TLSAData,
    Unanswered,
    addresses,
    compare_and_swap,
)

log = logging.getLogger("tlsagen")
KEYS = ("token", "zone-id", "endpoint-url", "timeout", "nameservers")
ENDPOINT = "https://api.cloudflare.com/client/v4"
TOKEN = "a Cloudflare API token with Zone:DNS:Edit and Zone:Zone:Read for the zone"
ZONE_PAGE = 50  # zones per page (the API's largest)
RECORD_PAGE = 1000  # DNS records per page
MAX_OPERATIONS = 200  # per batch on the Free plan (3,500 on paid plans)
AUTOMATIC_TTL = 300  # what Cloudflare's "automatic" TTL (1) means for DNS-only records


@dataclass(frozen=True)
class Settings:
    api: ApiSettings
    zone_id: str | None


def parse(settings: ProviderSettings) -> Settings:
    api = ApiSettings.parse(settings, KEYS, ENDPOINT, TOKEN)
    zone_id = settings.options.get("zone-id")
    if zone_id is not None and not (isinstance(zone_id, str) and zone_id.isalnum()):
        raise InputError(f"{settings.where} zone-id: expected the zone's id (32 hex digits)")
    return Settings(api, zone_id)


@dataclass(frozen=True)
class Zone:
    id: str
    name: str  # absolute, lowercase
    name_servers: tuple[str, ...]


@dataclass(frozen=True)
class Record:
    """One DNS record as Cloudflare holds it."""

    id: str
    item: TLSAData | Malformed
    ttl: int


def _record(found: Mapping[str, Any]) -> Record:
    raw = found.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    shown = str(found.get("content") or data)
    ttl = found.get("ttl")
    ttl = AUTOMATIC_TTL if ttl == 1 or not isinstance(ttl, int) else ttl
    fields = [data.get(key) for key in ("usage", "selector", "matching_type")]
    numbers = [int(n) for n in fields if isinstance(n, int | float) and n == int(n)]
    if len(numbers) < 3 or not all(0 <= n < 256 for n in numbers):
        reason = "its usage, selector or matching type is not a number 0-255"
        return Record(found["id"], Malformed(shown, reason), ttl)
    try:
        certificate = bytes.fromhex(data.get("certificate") or "")
    except (TypeError, ValueError):
        reason = "its certificate data is not hexadecimal"
        return Record(found["id"], Malformed(shown, reason), ttl)
    usage, selector, mtype = numbers
    return Record(found["id"], TLSAData(usage, selector, mtype, certificate), ttl)


def _rrset(owner: Owner, records: Sequence[Record]) -> RRset:
    return RRset(
        owner,
        min(record.ttl for record in records),
        frozenset(r.item for r in records if isinstance(r.item, TLSAData)),
        frozenset(r.item for r in records if isinstance(r.item, Malformed)),
    )


class CloudflareProvider(ReadsNoServer):
    """Publishes TLSA records in Cloudflare zones. One instance serves one run."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        api = settings.api
        needs = "it needs Zone:DNS:Edit and Zone:Zone:Read for the zone"
        self._api = api.client("Cloudflare", "Bearer", needs)
        self._zones: list[Zone] | None = None
        self._servers: dict[str, tuple[Endpoint, ...]] = {}

    # -- zones -------------------------------------------------------------------------------

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        """The longest matching zone the token can read (or the `zone-id` one)."""
        return {owner: self._zone_of(owner).name for owner in owners}

    def _zone_of(self, owner: Owner) -> Zone:
        found = [z for z in self._all_zones() if owner.name.endswith("." + z.name)]
        if not found:
            raise ProviderError(
                f"no Cloudflare zone that this token can read holds {owner}; add the zone, or "
                f"give the token Zone:Zone:Read for it ({self._settings.api.where})"
            )
        return max(found, key=lambda zone: len(zone.name))

    def _zone_named(self, name: str) -> Zone:
        for zone in self._all_zones():
            if zone.name == name:
                return zone
        raise ProviderError(f"no Cloudflare zone named {name} is readable with this token")

    def _all_zones(self) -> list[Zone]:
        """Listed once per run: one request per 50 zones the token can read (one, for a token
        scoped to one zone), whatever the number of owners."""
        if self._zones is None:
            if self._settings.zone_id:
                found = [
                    self._ok(self._api.call("GET", f"/zones/{self._settings.zone_id}"), "the zone")
                ]
                self._zones = [_zone(result) for result in found]
            else:
                self._zones = [_zone(result) for result in self._pages("/zones", {}, ZONE_PAGE)]
        return self._zones

    # -- read --------------------------------------------------------------------------------

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        found = self._fetch(self._zone_named(zone), owners)
        return {owner: _rrset(owner, records) for owner, records in found.items()}

    def _fetch(self, zone: Zone, owners: Collection[Owner]) -> dict[Owner, list[Record]]:
        """The TLSA records of `owners`: one listing of the zone's TLSA records."""
        wanted = {owner.name: owner for owner in owners}
        found: dict[Owner, list[Record]] = {}
        path = f"/zones/{zone.id}/dns_records"
        for result in self._pages(path, {"type": "TLSA"}, RECORD_PAGE):
            owner = wanted.get(str(result.get("name", "")).lower() + ".")
            if owner is not None and result.get("type") == "TLSA":
                found.setdefault(owner, []).append(_record(result))
        return found

    def _pages(self, path: str, query: Mapping[str, str], size: int) -> Iterator[dict[str, Any]]:
        page, pages = 1, 1
        while page <= pages:
            answer = self._api.call("GET", path, query={**query, "page": page, "per_page": size})
            results = self._ok(answer, f"the listing {path}")
            info = answer.body.get("result_info") or {}
            if not isinstance(results, list) or not isinstance(info, dict):
                raise self._api.garbage(answer)
            yield from results
            total = info.get("total_pages")
            pages = (
                total if isinstance(total, int) else math.ceil(info.get("total_count", 0) / size)
            )
            page += 1

    # -- apply -------------------------------------------------------------------------------

    def apply(self, changes: ChangeSet) -> None:
        """One batch (deletes, patches, posts) for the change set, split between owners only
        beyond 200 operations (each batch is then atomic on its own); read before and after."""
        if not changes.changes:
            return
        zone = self._zone_named(changes.zone)
        owners = [change.owner for change in changes.changes]
        held: dict[Owner, list[Record]] = {}

        def read() -> Mapping[Owner, RRset]:
            held.clear()
            held.update(self._fetch(zone, owners))
            return {owner: _rrset(owner, records) for owner, records in held.items()}

        def write(group: Sequence[Change]) -> None:
            body = batch(group, held)
            answer = self._api.call(
                "POST", f"/zones/{zone.id}/dns_records/batch", body=body, read=False
            )
            if answer.status >= 500 or not isinstance(answer.body, dict):
                raise Unanswered(f"the Cloudflare batch got HTTP {answer.status} without a verdict")
            self._ok(answer, f"the batch for {zone.name}")

        name = f"Cloudflare zone {zone.name}"
        compare_and_swap(changes, read, write, name, split(changes.changes, MAX_OPERATIONS))

    # -- propagation -------------------------------------------------------------------------

    def servers(self, zone: str) -> Sequence[Endpoint]:
        """The configured `nameservers`, else the addresses of the zone's assigned name servers."""
        if self._settings.api.nameservers is not None:
            return self._settings.api.nameservers
        if zone not in self._servers:
            self._servers[zone] = addresses(self._zone_named(zone).name_servers)
        return self._servers[zone]

    # -- answers -----------------------------------------------------------------------------

    def _ok(self, answer: Answer, what: str) -> Any:
        """The `result` of a successful answer; ProviderError saying what went wrong."""
        body = answer.body if isinstance(answer.body, dict) else {}
        if body.get("success") is True and 200 <= answer.status < 300:
            return body.get("result")
        if "success" not in body and answer.status not in (429, 502, 503, 504):
            raise self._api.garbage(answer)
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        reason = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        raise self._api.refusal(answer, what, reason or "no reason given")


def _zone(result: Any) -> Zone:
    if not isinstance(result, dict) or not isinstance(result.get("name"), str):
        raise ProviderError("Cloudflare listed a zone without a name")
    servers = tuple(str(name) for name in result.get("name_servers") or ())
    return Zone(str(result["id"]), result["name"].lower().rstrip(".") + ".", servers)


def batch(changes: Sequence[Change], held: Mapping[Owner, Sequence[Record]]) -> dict[str, Any]:
    """The batch request that turns what is `held` at each owner into its `after`: records to
    keep stay (a TTL change patches them), every other held record is deleted by id, and each
    missing record is posted."""
    deletes: list[dict[str, Any]] = []
    patches: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    for change in changes:
        name = change.owner.name.rstrip(".")
        after = change.after or RRset(change.owner, 0, frozenset())
        missing = set(after.records)
        for record in held.get(change.owner, ()):
            if record.item in missing:
                missing.remove(record.item)
                if record.ttl != after.ttl:
                    patches.append(
                        {"id": record.id, "name": name, "type": "TLSA", "ttl": after.ttl}
                    )
            else:
                deletes.append({"id": record.id})
        posts += [
            {"name": name, "type": "TLSA", "ttl": after.ttl, "data": tlsa_data(item)}
            for item in sorted(missing)
        ]
    return {"deletes": deletes, "patches": patches, "posts": posts}


def split(changes: Sequence[Change], limit: int = MAX_OPERATIONS) -> list[list[Change]]:
    """The fewest batches, in order, that keep each owner whole and send at most `limit`
    operations each (a record deleted or posted is one; the `before` is what the batch deletes)."""
    batches: list[list[Change]] = []
    count = 0
    for change in changes:
        size = sum(
            len(rrset.records) + len(rrset.malformed)
            for rrset in (change.before, change.after)
            if rrset
        )
        if size > limit:
            raise ProviderError(
                f"{change.owner}: the change takes {size} record operations, more than one "
                f"Cloudflare batch may carry ({limit}); publish fewer TLSA records"
            )
        if not batches or count + size > limit:
            batches.append([])
            count = 0
        batches[-1].append(change)
        count += size
    return batches


def tlsa_data(record: TLSAData) -> dict[str, Any]:
    """A record as the API's structured `data`."""
    return {
        "usage": record.usage,
        "selector": record.selector,
        "matching_type": record.matching_type,
        "certificate": record.data.hex(),
    }
