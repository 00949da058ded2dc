"""The Route 53 provider: zone lookup, reads, compare-and-swap change batches, the INSYNC wait.

How a change is kept compare-and-swap:
1. `apply` reads the owners again first. If DNS no longer holds every `before`, it raises
   ConflictError (or returns, when DNS already holds every `after`: a retried run) and sends
   nothing. The DELETEs then repeat exactly the values and TTL just read.
2. Each batch is DELETE <exact old> + CREATE <new>, so real Route 53 rejects it whole when a
   concurrent writer got in between step 1 and the request. After such a rejection (or any
   InvalidChangeBatch / InvalidInput) the owners are read again to tell "already done" from
   "moved" (ConflictError) from a plain error.
Step 1 is what makes the guarantee hold on servers that do not enforce step 2 (moto accepts a
CREATE over an existing RRset); on Route 53 itself it also keeps a stale plan from reaching AWS.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tlsagen.provider import (
    Change,
    ChangeSet,
    Endpoint,
    InputError,
    Owner,
    ProviderError,
    ReadsNoServer,
    RRset,
    TlsagenError,
    already_applied,
    stored_record,
    stored_rrset,
)
from tlsagen_route53.aws import AwsError, translated
from tlsagen_route53.batches import Item, Stored, split
from tlsagen_route53.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_route53.type_defs import (
        HostedZoneTypeDef,
        ListHostedZonesByNameRequestTypeDef,
        ResourceRecordSetOutputTypeDef,
    )

log = logging.getLogger("tlsagen")
PAGE_SIZE = 300  # record sets per ListResourceRecordSets page
_ESCAPE = re.compile(r"\\([0-7]{3})")


def dns_name(text: str) -> str:
    """A name as Route 53 returns it (`\\052`-style octal escapes), made absolute and lowercase."""
    name = _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), text).lower()
    return name if name.endswith(".") else name + "."


def _within(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


@dataclass
class HostedZone:
    id: str  # without the "/hostedzone/" prefix
    name: str  # absolute, lowercase
    private: bool
    record_sets: int  # an estimate, to choose between one listing and per-owner reads

    @classmethod
    def from_api(cls, zone: HostedZoneTypeDef) -> HostedZone:
        return cls(
            id=zone["Id"].rsplit("/", 1)[-1],
            name=dns_name(zone["Name"]),
            private=zone.get("Config", {}).get("PrivateZone", False),
            record_sets=zone.get("ResourceRecordSetCount", 0),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Route53Provider(ReadsNoServer):
    """Publishes TLSA RRsets in Route 53 hosted zones. One instance serves one run."""

    def __init__(
        self, client: Route53Client, settings: Settings, poll_interval: float = 5.0
    ) -> None:
        self._client = client
        self._settings = settings
        self._poll_interval = poll_interval
        self._hosted: list[HostedZone] | None = None
        self._dnssec_checked: set[str] = set()

    # -- zones -------------------------------------------------------------------------------

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        """The longest matching hosted zone of the configured kind (or the `zone-id` one)."""
        return {owner: self._zone_of(owner).name for owner in owners}

    def _zone_of(self, owner: Owner) -> HostedZone:
        names = [zone.name for zone in self._hosted_zones() if _within(owner.name, zone.name)]
        if not names:
            raise self._missing(f"holds {owner}")
        return self._zone_named(max(names, key=len))

    def _zone_named(self, name: str) -> HostedZone:
        wanted = dns_name(name)
        found = [zone for zone in self._hosted_zones() if zone.name == wanted]
        if not found:
            raise self._missing(f"is named {wanted}")
        if len(found) > 1:
            ids = ", ".join(zone.id for zone in found)
            raise InputError(
                f"{self._settings.where}: {len(found)} {self._kind} hosted zones are named "
                f"{wanted} ({ids}); set zone-id to the one to use"
            )
        return found[0]

    @property
    def _kind(self) -> str:
        return "private" if self._settings.private else "public"

    def _missing(self, what: str) -> TlsagenError:
        if self._settings.zone_id:
            zone = self._hosted_zones()[0]
            return InputError(
                f"{self._settings.where} zone-id: hosted zone {zone} is not the zone that {what}"
            )
        hint = "" if self._settings.private else ", or set private = true for a private zone"
        return ProviderError(
            f"no {self._kind} Route 53 hosted zone in this AWS account {what}; create one, set "
            f"zone-id{hint}"
        )

    def _hosted_zones(self) -> list[HostedZone]:
        """The `zone-id` zone, or every hosted zone of the configured kind: listed once per run,
        so the number of calls grows with the account's zones, never with the owners."""
        if self._hosted is None:
            if self._settings.zone_id:
                self._hosted = [self._configured_zone(self._settings.zone_id)]
            else:
                wanted = self._settings.private
                self._hosted = [zone for zone in self._list_zones() if zone.private == wanted]
        return self._hosted

    def _configured_zone(self, zone_id: str) -> HostedZone:
        try:
            with self._aws():
                return HostedZone.from_api(self._client.get_hosted_zone(Id=zone_id)["HostedZone"])
        except AwsError as exc:
            if exc.code != "NoSuchHostedZone":
                raise
            raise InputError(
                f"{self._settings.where} zone-id: there is no hosted zone {zone_id} in this AWS "
                "account"
            ) from None

    def _list_zones(self) -> Iterator[HostedZone]:
        # Without DNSName, Route 53 and moto both list every zone; names are compared exactly.
        request: ListHostedZonesByNameRequestTypeDef = {}
        while True:
            with self._aws():
                page = self._client.list_hosted_zones_by_name(**request)
            yield from map(HostedZone.from_api, page["HostedZones"])
            if not page.get("IsTruncated"):
                return
            request = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}

    # -- read --------------------------------------------------------------------------------

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        hosted = self._zone_named(zone)
        self._check_signing(hosted)
        return {owner: stored.rrset for owner, stored in self._fetch(hosted, owners).items()}

    def _fetch(self, zone: HostedZone, owners: Iterable[Owner]) -> dict[Owner, Stored]:
        """The TLSA RRsets of `owners`: one listing of the zone or one call per owner, whichever
        takes fewer calls."""
        wanted = {owner.name: owner for owner in owners}
        if max(1, math.ceil(zone.record_sets / PAGE_SIZE)) < len(wanted):
            record_sets = self._list_record_sets(zone)
        else:
            record_sets = (found for name in wanted for found in self._first_at(zone, name))
        found: dict[Owner, Stored] = {}
        for record_set in record_sets:
            owner = wanted.get(dns_name(record_set["Name"]))
            if owner is not None and record_set["Type"] == "TLSA":
                found[owner] = _stored(owner, record_set)
        return found

    def _list_record_sets(self, zone: HostedZone) -> Iterator[ResourceRecordSetOutputTypeDef]:
        pages = self._client.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone.id
        )
        with self._aws():
            for page in pages:
                yield from page["ResourceRecordSets"]

    def _first_at(self, zone: HostedZone, name: str) -> list[ResourceRecordSetOutputTypeDef]:
        """The first record set at or after `name`/TLSA in the zone's order: the owner's TLSA
        RRset, or another record set (or none) when the owner has no TLSA RRset."""
        with self._aws():
            return self._client.list_resource_record_sets(
                HostedZoneId=zone.id, StartRecordName=name, StartRecordType="TLSA", MaxItems="1"
            )["ResourceRecordSets"]

    def _check_signing(self, zone: HostedZone) -> None:
        """Warn, once per zone, when DANE clients cannot trust the zone's TLSA records."""
        if zone.id in self._dnssec_checked:
            return
        self._dnssec_checked.add(zone.id)
        if zone.private:
            log.warning(
                "hosted zone %s is private, and Route 53 cannot DNSSEC-sign private zones: "
                "TLSA in an unsigned zone does nothing",
                zone,
            )
            return
        try:
            with self._aws():
                status = self._client.get_dnssec(HostedZoneId=zone.id)["Status"]
        except AwsError as exc:
            if not exc.denied:
                raise
            log.warning(
                "cannot tell whether hosted zone %s is DNSSEC-signed (route53:GetDNSSEC is not "
                "allowed); make sure it is: TLSA in an unsigned zone does nothing",
                zone,
            )
            return
        serving = status.get("ServeSignature", "UNKNOWN")
        if serving != "SIGNING":
            log.warning(
                "hosted zone %s is not DNSSEC-signed (ServeSignature %s): TLSA in an unsigned "
                "zone does nothing; enable DNSSEC signing and add the DS record at the parent",
                zone,
                serving,
            )

    # -- apply -------------------------------------------------------------------------------

    def apply(self, changes: ChangeSet) -> None:
        """One change batch per zone, split between owners only when the request limits demand
        it (each batch is then atomic on its own); then wait until Route 53 reports INSYNC."""
        if not changes.changes:
            return
        zone = self._zone_named(changes.zone)
        current = self._fetch(zone, [change.owner for change in changes.changes])
        if _already_applied(changes.changes, current):
            log.info("Route 53 zone %s already holds these changes", zone)
            return
        batches = split([Item.of(change, current.get(change.owner)) for change in changes.changes])
        pending = []
        for number, batch in enumerate(batches, 1):
            try:
                change_id = self._send(zone, batch)
            except TlsagenError as exc:
                if number > 1:
                    exc.args = (
                        f"{exc} (batches 1-{number - 1} of {len(batches)} were applied, each "
                        "whole; run again to finish)",
                    )
                raise
            if change_id is not None:
                pending.append(change_id)
        zone.record_sets += sum(
            (c.after is not None) - (c.before is not None) for c in changes.changes
        )
        self._wait(pending)

    def _send(self, zone: HostedZone, batch: Sequence[Item]) -> str | None:
        """Send one batch; the change id while it is still PENDING, else None."""
        try:
            with self._aws():
                info = self._client.change_resource_record_sets(
                    HostedZoneId=zone.id,
                    ChangeBatch={
                        "Comment": "tlsagen",
                        "Changes": [action for item in batch for action in item.actions],
                    },
                )["ChangeInfo"]
        except AwsError as exc:
            if exc.code not in ("InvalidChangeBatch", "InvalidInput"):
                raise
            if "protect" in exc.aws_message.lower():
                raise ProviderError(
                    f"Route 53 refused the change in {zone} because a record set is protected "
                    f"({exc.aws_message}); remove its resource record set protection to let "
                    "tlsagen manage it"
                ) from None
            if self._applied(zone, batch, exc):
                return None
            raise ProviderError(
                f"Route 53 rejected the change batch for {zone}: {exc.aws_message}"
            ) from None
        except ProviderError as exc:  # no answer, or an unreadable one: was the batch applied?
            if self._applied(zone, batch, exc):
                return None
            raise
        return None if info["Status"] == "INSYNC" else info["Id"]

    def _applied(self, zone: HostedZone, batch: Sequence[Item], failure: ProviderError) -> bool:
        """After `failure` left it unclear: True when Route 53 holds every `after` of the batch,
        False when it holds every `before`; otherwise ConflictError."""
        changes = [item.change for item in batch]
        try:
            current = self._fetch(zone, [change.owner for change in changes])
        except ProviderError as exc:
            raise ProviderError(
                f"{failure}; reading {zone} back failed too ({exc}): the change batch may have "
                "been applied, run again to check"
            ) from None
        return _already_applied(changes, current)

    def _wait(self, change_ids: Sequence[str]) -> None:
        """Poll GetChange until every change is INSYNC, within `timeout` seconds in all."""
        start = time.monotonic()
        deadline = start + self._settings.timeout
        for change_id in change_ids:
            status = "PENDING"
            while status != "INSYNC":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProviderError(
                        f"Route 53 change {change_id} is still {status} after "
                        f"{self._settings.timeout:g} s; it was accepted and will reach every "
                        "server on its own: run again later, or raise timeout in "
                        f"{self._settings.where}"
                    )
                log.info(
                    "waiting for Route 53 change %s to reach every server (%.0f s so far)",
                    change_id,
                    time.monotonic() - start,
                )
                time.sleep(min(self._poll_interval, remaining))
                try:
                    with self._aws():
                        status = self._client.get_change(Id=change_id)["ChangeInfo"]["Status"]
                except ProviderError as exc:
                    raise ProviderError(
                        f"{exc}; change {change_id} was accepted all the same, and reaches every "
                        "Route 53 server on its own"
                    ) from None

    def servers(self, zone: str) -> Sequence[Endpoint]:
        return ()  # apply waits for INSYNC: every Route 53 server has the change

    def _aws(self) -> AbstractContextManager[None]:
        return translated(self._client.meta.endpoint_url)


def _stored(owner: Owner, record_set: ResourceRecordSetOutputTypeDef) -> Stored:
    if "SetIdentifier" in record_set or "TTL" not in record_set:
        raise ProviderError(
            f"{owner}: the TLSA record set in Route 53 uses a routing policy or an alias; "
            "tlsagen manages simple record sets only, so replace it with one"
        )
    values = tuple(record["Value"] for record in record_set.get("ResourceRecords", []))
    read = map(stored_record, values)
    return Stored(stored_rrset(owner, record_set["TTL"], read), values)


def _already_applied(changes: Sequence[Change], current: Mapping[Owner, Stored]) -> bool:
    """The compare-and-swap verdict on what Route 53 holds (see `already_applied`)."""
    held = {owner: stored.rrset for owner, stored in current.items()}
    return already_applied(held, changes, " in Route 53")
