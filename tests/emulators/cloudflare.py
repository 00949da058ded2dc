"""A stateful emulator of the Cloudflare API v4 endpoints tlsagen uses, served over real HTTP.

Zones (GET /zones, GET /zones/{id}), DNS records (GET /zones/{id}/dns_records with type, name,
page and per_page) and the batch endpoint (POST /zones/{id}/dns_records/batch: deletes, patches,
puts, posts in that order, in one transaction: any error applies nothing). TLSA records carry
structured `data`, and the certificate hex comes back upper-case, as Cloudflare returns it.
Every request body and query, and every answer, is checked against cloudflare.schema.json.
No part of the product: tests/ only.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.server import Emulator, Reply, Request

STAMP = "2026-12-03T09:00:00.000000Z"


def envelope(result: Any, status: int = 200, info: dict[str, int] | None = None) -> Reply:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return status, {}, body


def failure(status: int, code: int, message: str) -> Reply:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": []}
    return status, {}, body


class Invalid(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        self.reply = failure(status, code, message)


@dataclass
class CloudflareEmulator(Emulator):
    schema_name: str = "cloudflare"
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record
    max_per_page: int = 5_000_000  # lower it to make a test read several pages
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- set-up and writes behind tlsagen's back -------------------------------------------

    def add_zone(self, name: str, name_servers: tuple[str, ...] = ("localhost",)) -> str:
        zone_id = f"{next(self._ids):032x}"
        self.zones[zone_id] = {"id": zone_id, "name": name, "name_servers": list(name_servers)}
        return zone_id

    def add(self, zone_id: str, name: str, data: dict[str, Any], ttl: int = 300) -> str:
        """Store a TLSA record as another writer (the dashboard, another tool) would."""
        with self.lock:
            record = self._new(zone_id, {"name": name, "type": "TLSA", "ttl": ttl, "data": data})
            self.records[record["id"]] = record
            return str(record["id"])

    def remove(self, record_id: str) -> None:
        with self.lock:
            del self.records[record_id]

    def at(self, name: str) -> list[dict[str, Any]]:
        """The records stored at `name` (no trailing dot)."""
        return [r for r in self.records.values() if r["name"] == name]

    def held(self, name: str) -> set[str]:
        """What DNS would serve at `name`: `U S M hex` lines, lower case."""
        return {
            "{usage} {selector} {matching_type} {certificate}".format(
                **{**r["data"], "certificate": r["data"]["certificate"].lower()}
            )
            for r in self.at(name)
        }

    def error_body(self, status: int) -> Any:
        if status == 429:
            return failure(429, 971, "Please wait and consider throttling your request speed")[2]
        return failure(status, 10000, f"injected HTTP {status}")[2]

    # -- the API ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return failure(403, 10000, "Authentication error")
        parts = request.path.removeprefix("/client/v4").strip("/").split("/")
        try:
            reply = self._route(request, parts)
        except Invalid as exc:
            reply = exc.reply
        self.check(reply[2], "Envelope")
        return reply

    def _route(self, request: Request, parts: list[str]) -> Reply:
        if parts == ["zones"] and request.method == "GET":
            self.check(request.query, "ZoneListParams")
            found = [
                z for z in self.zones.values() if request.query.get("name", z["name"]) == z["name"]
            ]
            return self._page(
                sorted(found, key=lambda z: z["name"]), request.query, 50, "Zone", self._zone
            )
        if len(parts) < 2 or parts[0] != "zones" or parts[1] not in self.zones:
            message = (
                f"Could not route to /{'/'.join(parts)}, perhaps your object identifier is invalid?"
            )
            raise Invalid(404, 7003, message)
        zone_id = parts[1]
        if parts[2:] == [] and request.method == "GET":
            return envelope(self._zone(self.zones[zone_id]))
        if parts[2:] == ["dns_records"] and request.method == "GET":
            self.check(request.query, "RecordListParams")
            query = request.query
            found = [
                r
                for r in self.records.values()
                if r["zone_id"] == zone_id
                and query.get("type", r["type"]) == r["type"]
                and query.get("name", r["name"]) == r["name"]
            ]
            return self._page(found, query, self.max_per_page, "TLSARecord", self._shown)
        if parts[2:] == ["dns_records", "batch"] and request.method == "POST":
            return self._batch(zone_id, request.body)
        raise Invalid(405, 10000, f"{request.method} /{'/'.join(parts)} is not emulated")

    def _page(
        self, items: list[Any], query: dict[str, str], largest: int, kind: str, show: Any
    ) -> Reply:
        per_page = min(int(query.get("per_page", 20)), largest)
        page = int(query.get("page", 1))
        shown = [show(item) for item in items[(page - 1) * per_page : page * per_page]]
        for item in shown:
            self.check(item, kind)
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(shown),
            "total_count": len(items),
            "total_pages": max(1, math.ceil(len(items) / per_page)),
        }
        return envelope(shown, info=info)

    def _zone(self, zone: dict[str, Any]) -> dict[str, Any]:
        return {
            **zone,
            "account": {"id": "a1", "name": "test"},
            "created_on": STAMP,
            "modified_on": STAMP,
            "development_mode": 0,
            "meta": {},
            "owner": {"id": "o1", "type": "user"},
            "plan": {"id": "free"},
            "status": "active",
        }

    def _shown(self, record: dict[str, Any]) -> dict[str, Any]:
        data = {**record["data"], "certificate": record["data"].get("certificate", "").upper()}
        fields = ("usage", "selector", "matching_type", "certificate")
        content = " ".join(str(data.get(key, "")) for key in fields)
        kept = {key: value for key, value in record.items() if key != "zone_id"}
        return {**kept, "data": data, "content": content}

    def _batch(self, zone_id: str, body: Any) -> Reply:
        if self.check(body, "RecordBatchParams"):
            raise Invalid(400, 9207, "Request body is invalid.")
        saved = copy.deepcopy(self.records)
        done: dict[str, list[dict[str, Any]]] = {
            "deletes": [],
            "patches": [],
            "puts": [],
            "posts": [],
        }
        try:
            for item in body.get("deletes", []):
                done["deletes"].append(self._shown(self._existing(zone_id, item["id"])))
                del self.records[item["id"]]
            for kind in ("patches", "puts"):
                for item in body.get(kind, []):
                    record = self._existing(zone_id, item["id"])
                    fields = {k: v for k, v in item.items() if k != "id"}
                    updated = (
                        {**record, **fields}
                        if kind == "patches"
                        else {**record, "data": {}, **fields}
                    )
                    self._validate(updated, exclude=record["id"])
                    self.records[record["id"]] = updated
                    done[kind].append(self._shown(updated))
            for item in body.get("posts", []):
                record = self._new(zone_id, item)
                self.records[record["id"]] = record
                done["posts"].append(self._shown(record))
        except Invalid:
            self.records = saved  # one transaction: nothing of the batch stays
            raise
        self.check(done, "RecordBatchResponse")
        return envelope(done)

    def _existing(self, zone_id: str, record_id: str) -> dict[str, Any]:
        record = self.records.get(record_id)
        if record is None or record["zone_id"] != zone_id:
            raise Invalid(400, 81044, "Record does not exist.")
        return record

    def _new(self, zone_id: str, item: dict[str, Any]) -> dict[str, Any]:
        record = {
            "id": f"{next(self._ids):032x}",
            "zone_id": zone_id,
            "name": item["name"].lower().rstrip("."),
            "type": item["type"],
            "ttl": item.get("ttl", 1),
            "proxied": False,
            "proxiable": False,
            "created_on": STAMP,
            "modified_on": STAMP,
            "meta": {},
            "data": dict(item.get("data", {})),
        }
        self._validate(record)
        return record

    def _validate(self, record: dict[str, Any], exclude: str | None = None) -> None:
        data = record["data"]
        fields = [data.get(key) for key in ("usage", "selector", "matching_type")]
        if not all(isinstance(n, int) and 0 <= n < 256 for n in fields):
            raise Invalid(
                400, 9101, "TLSA record: usage, selector and matching_type must be 0-255."
            )
        try:
            bytes.fromhex(data.get("certificate", ""))
        except ValueError:
            raise Invalid(400, 9101, "TLSA record: certificate must be hexadecimal.") from None
        data["certificate"] = data["certificate"].lower()
        if record["ttl"] != 1 and not 60 <= record["ttl"] <= 86400:
            raise Invalid(
                400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."
            )
        for other in self.records.values():
            same = (other["zone_id"], other["name"], other["type"], other["data"])
            if other["id"] != exclude and same == (
                record["zone_id"],
                record["name"],
                record["type"],
                data,
            ):
                raise Invalid(400, 81058, "An identical record already exists.")
