"""The deSEC provider: zone lookup by `owns_qname`, TLSA RRsets, one bulk PATCH per change set.

deSEC has no conditional write. `apply` checks every TTL against the minimum deSEC enforces
(a configuration error, before any request), reads the owners and refuses a stale plan
(ConflictError) before it sends anything, sends one PATCH /domains/{zone}/rrsets/ (atomic: every
RRset or none), and reads back. A write by another client that lands between that read and the
PATCH (one round trip) is overwritten; one that lands right after it is reported (exit 5). See
tlsagen.net.webapi.compare_and_swap and docs/providers/desec.md.
"""

from __future__ import annotations

import re
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
    get_int,
)

KEYS = ("token", "minimum-ttl", "endpoint-url", "timeout", "nameservers")
ENDPOINT = "https://desec.io/api/v1"
TOKEN = "a deSEC token allowed to write TLSA RRsets in the domain"
NAME_SERVERS = ("ns1.desec.io", "ns2.desec.org")
MINIMUM_TTL = 3600  # deSEC's default minimum TTL for a domain
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="next"')


@dataclass(frozen=True)
class Settings:
    api: ApiSettings
    minimum_ttl: int


def parse(settings: ProviderSettings) -> Settings:
    api = ApiSettings.parse(settings, KEYS, ENDPOINT, TOKEN)
    minimum = get_int(settings.options, "minimum-ttl", settings.where, MINIMUM_TTL, minimum=1)
    return Settings(api, minimum or MINIMUM_TTL)


def stored(text: str) -> TLSAData | Malformed:
    """A record as deSEC stores it (`U S M hex`, canonical): TLSAData whatever its data length,
    else Malformed with the reason."""
    fields = text.split()
    numbers = fields[:3]
    if len(numbers) < 3 or not all(f.isascii() and f.isdigit() and len(f) <= 3 for f in numbers):
        return Malformed(text, "it does not start with usage, selector and matching type")
    try:
        data = bytes.fromhex("".join(fields[3:]))
    except ValueError:
        return Malformed(text, "its data is not hexadecimal")
    usage, selector, mtype = (int(field) for field in numbers)
    if max(usage, selector, mtype) > 255:
        return Malformed(text, "its usage, selector or matching type is over 255")
    return TLSAData(usage, selector, mtype, data)


class DesecProvider(ReadsNoServer):
    """Publishes TLSA RRsets in deSEC domains. One instance serves one run."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        api = settings.api
        needs = "it must be valid and allowed to write TLSA RRsets in the domain"
        self._api = api.client("deSEC", "Token", needs)
        self._domains: dict[str, str] = {}  # host name -> its domain
        self._servers: tuple[Endpoint, ...] | None = None

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        """The domain responsible for each owner's host: one `owns_qname` query per host."""
        return {owner: self._domain_of(owner.host) for owner in owners}

    def _domain_of(self, host: str) -> str:
        if host not in self._domains:
            query = {"owns_qname": host.rstrip(".")}
            answer = self._api.call("GET", "/domains/", query=query)
            found = self._ok(answer, "the domain lookup")
            if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
                raise self._api.garbage(answer)
            if not found:
                raise ProviderError(
                    f"no deSEC domain of this account holds {host}; create it, or check the token"
                )
            self._domains[host] = str(found[0].get("name", "")).lower().rstrip(".") + "."
        return self._domains[host]

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        """One listing of the domain's TLSA RRsets (by pages, beyond deSEC's page size)."""
        wanted = {owner.name: owner for owner in owners}
        found = {}
        for rrset in self._tlsa_rrsets(zone):
            owner = wanted.get(str(rrset.get("name", "")).lower())
            records = rrset.get("records")
            if (
                owner is None
                or not isinstance(records, list)
                or not isinstance(rrset.get("ttl"), int)
            ):
                continue
            items = [stored(str(text)) for text in records]
            found[owner] = RRset(
                owner,
                rrset["ttl"],
                frozenset(i for i in items if isinstance(i, TLSAData)),
                frozenset(i for i in items if isinstance(i, Malformed)),
            )
        return found

    def _tlsa_rrsets(self, zone: str) -> Iterator[dict[str, Any]]:
        path: str | None = f"/domains/{zone.rstrip('.')}/rrsets/?type=TLSA&cursor="
        while path is not None:
            answer = self._api.call("GET", path)
            page = self._ok(answer, f"reading {zone}")
            if not isinstance(page, list):
                raise self._api.garbage(answer)
            yield from (rrset for rrset in page if isinstance(rrset, dict))
            path = self._next_page(answer)

    def _next_page(self, answer: Answer) -> str | None:
        match = _NEXT.search(answer.link or "")
        if match is None:
            return None
        base = self._settings.api.endpoint_url.rstrip("/")
        url = match.group(1)
        if not url.startswith(base + "/"):
            raise ProviderError(f"deSEC pointed the next page outside {base}: {url[:100]!r}")
        return url.removeprefix(base)

    def apply(self, changes: ChangeSet) -> None:
        if not changes.changes:
            return
        self._check_ttls(changes)
        zone = changes.zone
        owners = [change.owner for change in changes.changes]

        def write(group: Sequence[Change]) -> None:
            body = [
                {
                    "subname": change.owner.name.removesuffix("." + zone),
                    "type": "TLSA",
                    "ttl": change.after.ttl if change.after else self._settings.minimum_ttl,
                    "records": change.after.texts() if change.after else [],
                }
                for change in group
            ]
            path = f"/domains/{zone.rstrip('.')}/rrsets/"
            answer = self._api.call("PATCH", path, body=body, read=False)
            if answer.status >= 500 or answer.body is None:
                raise Unanswered(f"deSEC answered the bulk change with HTTP {answer.status}")
            self._ok(answer, f"the bulk change of {zone}")

        compare_and_swap(changes, lambda: self.read(zone, owners), write, f"deSEC domain {zone}")

    def _check_ttls(self, changes: ChangeSet) -> None:
        """InputError before any request for a TTL deSEC would refuse."""
        minimum = self._settings.minimum_ttl
        for change in changes.changes:
            if change.after is not None and change.after.ttl < minimum:
                config = self._settings.api.where.split(" [")[0]
                raise InputError(
                    f"{config} ttl: {change.after.ttl} s (for {change.owner}) is below the "
                    f"minimum TTL deSEC enforces, {minimum} s; set ttl = {minimum} or more in "
                    f"{config} [defaults] or the service's table (or minimum-ttl in "
                    f"{self._settings.api.where}, if deSEC lowered it for your domain)"
                )

    def servers(self, zone: str) -> Sequence[Endpoint]:
        """The configured `nameservers`, else the addresses of ns1.desec.io and ns2.desec.org."""
        if self._settings.api.nameservers is not None:
            return self._settings.api.nameservers
        if self._servers is None:
            self._servers = addresses(NAME_SERVERS)
        return self._servers

    def _ok(self, answer: Answer, what: str) -> Any:
        """The JSON of a successful answer; ProviderError saying what went wrong."""
        if 200 <= answer.status < 300:
            if answer.body is None:
                raise self._api.garbage(answer)
            return answer.body
        detail = answer.body.get("detail") if isinstance(answer.body, dict) else answer.body
        raise self._api.refusal(answer, what, str(detail)[:300] if detail else "no reason given")
