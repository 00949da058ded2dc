"""A stateful emulator of the deSEC API endpoints tlsagen uses, served over real HTTP.

GET /api/v1/domains/?owns_qname=, GET /api/v1/domains/{name}/, GET and bulk PATCH/PUT of
/api/v1/domains/{name}/rrsets/ (atomic: every RRset or none; `records: []` deletes), cursor
pagination with a Link header beyond `page_size` RRsets (400 without a cursor, as deSEC does),
the domain's minimum TTL (400 with one error object per RRset), token authentication (401).
TLSA records are stored in canonical form (lower-case hex, no spaces). Every request body and
query, and every answer, is checked against desec.schema.json. No part of the product: tests/.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.server import Emulator, Reply, Request

STAMP = "2026-12-03T09:00:00.000000Z"


def canonical(text: str) -> str | None:
    """A TLSA record in deSEC's canonical presentation form; None when it is not one."""
    fields = text.split()
    if len(fields) < 4 or not all(f.isdigit() and int(f) < 256 for f in fields[:3]):
        return None
    try:
        data = bytes.fromhex("".join(fields[3:]))
    except ValueError:
        return None
    return f"{int(fields[0])} {int(fields[1])} {int(fields[2])} {data.hex()}"


@dataclass
class DesecEmulator(Emulator):
    schema_name: str = "desec"
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 500  # deSEC paginates beyond 500 RRsets

    def add_domain(self, name: str, minimum_ttl: int = 3600) -> None:
        self.domains[name] = {"minimum_ttl": minimum_ttl, "rrsets": {}}

    def put(self, domain: str, subname: str, ttl: int, records: list[str]) -> None:
        """Store (or with no records, delete) an RRset as another writer would; records as given,
        so a test can plant one that is not TLSA data."""
        with self.lock:
            rrsets = self.domains[domain]["rrsets"]
            if records:
                rrsets[(subname, "TLSA")] = {"ttl": ttl, "records": list(records)}
            else:
                rrsets.pop((subname, "TLSA"), None)

    def held(self, domain: str, subname: str) -> set[str]:
        found = self.domains[domain]["rrsets"].get((subname, "TLSA"))
        return set(found["records"]) if found else set()

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"detail": "Request was throttled. Expected available in 5 seconds."}
        return {"detail": f"injected HTTP {status}"}

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Token {self.token}":
            return 401, {}, {"detail": "Invalid token."}
        parts = request.path.removeprefix("/api/v1/").strip("/").split("/")
        if parts == ["domains"] and request.method == "GET":
            self.check(request.query, "DomainQuery")
            return self._owner_of(request.query.get("owns_qname"))
        if parts[0] != "domains" or len(parts) < 2 or parts[1] not in self.domains:
            return 404, {}, {"detail": "Not found."}
        name = parts[1]
        if parts[2:] == [] and request.method == "GET":
            return self._shown_domain(name)
        if parts[2:] == ["rrsets"] and request.method == "GET":
            self.check(request.query, "RRsetQuery")
            return self._list(name, request)
        if parts[2:] == ["rrsets"] and request.method in ("PATCH", "PUT"):
            return self._bulk(name, request.body)
        return 405, {}, {"detail": f'Method "{request.method}" not allowed.'}

    def _domain(self, name: str) -> dict[str, Any]:
        shown = {
            "created": STAMP,
            "minimum_ttl": self.domains[name]["minimum_ttl"],
            "name": name,
            "published": STAMP,
            "touched": STAMP,
        }
        self.check(shown, "Domain")
        return shown

    def _shown_domain(self, name: str) -> Reply:
        return 200, {}, {**self._domain(name), "keys": []}

    def _owner_of(self, qname: str | None) -> Reply:
        names = [d for d in self.domains if qname is None or qname == d or qname.endswith("." + d)]
        if qname is not None:
            names = sorted(names, key=len)[-1:]
        return 200, {}, [self._domain(name) for name in names]

    def _rrset(
        self, domain: str, subname: str, rtype: str, stored: dict[str, Any]
    ) -> dict[str, Any]:
        shown = {
            "created": STAMP,
            "domain": domain,
            "subname": subname,
            "name": f"{subname}.{domain}." if subname else f"{domain}.",
            "type": rtype,
            "records": sorted(stored["records"]),
            "ttl": stored["ttl"],
            "touched": STAMP,
        }
        self.check(shown, "RRset")
        return shown

    def _list(self, name: str, request: Request) -> Reply:
        query = request.query
        found = [
            self._rrset(name, subname, rtype, stored)
            for (subname, rtype), stored in sorted(self.domains[name]["rrsets"].items())
            if query.get("type", rtype) == rtype and query.get("subname", subname) == subname
        ]
        base = f"{self.url}/api/v1/domains/{name}/rrsets/?type={query.get('type', '')}&cursor="
        if "cursor" not in query:
            if len(found) > self.page_size:
                return 400, {"Link": f'<{base}>; rel="first"'}, {"detail": "Pagination required."}
            return 200, {}, found
        start = int(query["cursor"] or 0)
        links = [f'<{base}>; rel="first"']
        if start + self.page_size < len(found):
            links.append(f'<{base}{start + self.page_size}>; rel="next"')
        return 200, {"Link": ", ".join(links)}, found[start : start + self.page_size]

    def _bulk(self, name: str, body: Any) -> Reply:
        if self.check(body, "BulkWrite"):
            return 400, {}, {"detail": "Invalid bulk request."}
        domain = self.domains[name]
        errors: list[dict[str, Any]] = []
        updated = copy.deepcopy(domain["rrsets"])
        for item in body:
            error: dict[str, Any] = {}
            key = (item["subname"], item["type"])
            if "ttl" in item and item["ttl"] < domain["minimum_ttl"]:
                minimum = domain["minimum_ttl"]
                error["ttl"] = [f"Ensure this value is greater than or equal to {minimum}."]
            records = [canonical(text) for text in item.get("records", [])]
            if None in records:
                error["records"] = ["Cannot parse hexadecimal or base64 record contents"]
            errors.append(error)
            if error:
                continue
            if records:
                ttl = item.get("ttl", updated.get(key, {}).get("ttl"))
                if ttl is None:
                    errors[-1] = {"ttl": ["This field is required."]}
                    continue
                updated[key] = {"ttl": ttl, "records": records}
            elif "records" in item:
                updated.pop(key, None)
        if any(errors):
            return 400, {}, errors  # atomic: nothing applied
        domain["rrsets"] = updated
        return (
            200,
            {},
            [
                self._rrset(name, i["subname"], i["type"], updated[(i["subname"], i["type"])])
                for i in body
                if (i["subname"], i["type"]) in updated
            ],
        )
