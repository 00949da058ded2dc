"""The steps of a run, in order: read key material, read DNS, diff, gate, apply, wait."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from tlsagen import dns, material, policy
from tlsagen.config import Config, Service
from tlsagen.errors import ProviderError, TlsagenError, UnsafeError
from tlsagen.provider import Endpoint, Provider, load
from tlsagen.records import Change, ChangeSet, Owner, RRset, diff, rrset
from tlsagen.tlsa import TLSAData, compute

Progress = Callable[[int, int], None]  # (owners confirmed on every server, owners to confirm)
POLL_WORKERS = 16


@dataclass(frozen=True)
class OwnerPlan:
    """One owner: what DNS holds, what it should hold, and whether changing it is safe."""

    service: str
    provider: str
    zone: str
    desired: RRset
    current: RRset | None
    roles: Mapping[TLSAData, str]  # why each desired record is there: "current: FILE"
    unsafe: str | None = None  # why the change is refused, if it is

    @property
    def owner(self) -> Owner:
        return self.desired.owner

    @property
    def change(self) -> Change | None:
        changes = diff(
            {self.owner: self.desired}, {self.owner: self.current} if self.current else {}
        )
        return changes[0] if changes else None


@dataclass(frozen=True)
class Plan:
    owners: tuple[OwnerPlan, ...]
    warnings: tuple[str, ...]

    @property
    def pending(self) -> tuple[OwnerPlan, ...]:
        return tuple(o for o in self.owners if o.change is not None)

    def change_sets(self) -> dict[tuple[str, str], ChangeSet]:
        """(provider name, zone) -> the changes to apply there."""
        grouped: dict[tuple[str, str], list[Change]] = defaultdict(list)
        for item in self.owners:
            if item.change is not None:
                grouped[(item.provider, item.zone)].append(item.change)
        return {key: ChangeSet(key[1], tuple(changes)) for key, changes in grouped.items()}


@dataclass(frozen=True)
class ServerReport:
    zone: str
    server: Endpoint
    serial: int | None
    missing: tuple[Owner, ...]  # owners this server did not serve as desired
    seconds: float


@dataclass
class PublishResult:
    plan: Plan
    applied: list[tuple[str, str]] = field(default_factory=list)  # (provider, zone)
    servers: list[ServerReport] = field(default_factory=list)


def open_providers(config: Config, names: Iterable[str]) -> dict[str, Provider]:
    """Create the named providers; imports only their distributions."""
    opened = {}
    for name in sorted(set(names)):
        configured = config.providers[name]
        opened[name] = load(configured.kind)(configured.settings)
    return opened


@dataclass(frozen=True)
class _Keys:
    records: dict[TLSAData, str]
    current: tuple[material.Material, ...]
    warnings: tuple[str, ...]


def _service_keys(service: Service, now: datetime) -> _Keys:
    records: dict[TLSAData, str] = {}
    warnings: list[str] = []
    current = tuple(material.read_source(source) for source in service.current)
    nexts = tuple(material.read_source(source) for source in service.next_keys)
    for role, found in [("current", m) for m in current] + [("next", m) for m in nexts]:
        warnings += policy.lint_material(found, now)
        for params in service.params:
            records.setdefault(compute(found, params), f"{role}: {found.source}")
    for port in sorted({owner.port for owner in service.owners}):
        warnings += policy.lint_params(service.params, port)
    return _Keys(records, current, tuple(warnings))


def _matches_live_key(record: TLSAData, live: Iterable[material.Material]) -> str | None:
    """The source of a current key that `record` matches, if any."""
    for found in live:
        try:
            if compute(found, record.params) == record:
                return found.source
        except TlsagenError:
            continue  # e.g. usage 2 asked of a lone certificate: it cannot match
    return None


def _unsafe_reason(
    current: RRset | None, desired: RRset, live: Iterable[material.Material]
) -> str | None:
    if current is None:
        return None
    for record in sorted(current.records - desired.records):
        source = _matches_live_key(record, live)
        if source is not None:
            return (
                f"{desired.owner}: removing '{record.to_text()}' would leave the key of {source} "
                "(configured as current) without this record; keep these parameters in 'params' "
                "until the server presents another key"
            )
    return None


def make_plan(config: Config, providers: Mapping[str, Provider], now: datetime) -> Plan:
    """Read key material and DNS; pair each owner's desired RRset with the one DNS holds."""
    warnings: list[str] = []
    keys = {}
    for service in config.services:
        keys[service.name] = _service_keys(service, now)
        warnings += keys[service.name].warnings
    by_provider: dict[str, list[Service]] = defaultdict(list)
    for service in config.services:
        by_provider[service.provider].append(service)
    owners: list[OwnerPlan] = []
    for name, services in sorted(by_provider.items()):
        provider = providers[name]
        service_of = {owner: s for s in services for owner in s.owners}
        zones = provider.zones(list(service_of))
        by_zone: dict[str, list[Owner]] = defaultdict(list)
        for owner, zone in zones.items():
            by_zone[zone].append(owner)
        for zone, zone_owners in sorted(by_zone.items()):
            held = provider.read(zone, zone_owners)
            for owner in sorted(zone_owners):
                service = service_of[owner]
                service_keys = keys[service.name]
                desired = rrset(owner, service.ttl, service_keys.records)
                warnings += policy.lint_rrset_size(owner.name, len(desired.records))
                owners.append(
                    OwnerPlan(
                        service=service.name,
                        provider=name,
                        zone=zone,
                        desired=desired,
                        current=held.get(owner),
                        roles=service_keys.records,
                        unsafe=_unsafe_reason(held.get(owner), desired, service_keys.current),
                    )
                )
    return Plan(tuple(owners), tuple(dict.fromkeys(warnings)))


def apply(plan: Plan, providers: Mapping[str, Provider]) -> list[tuple[str, str]]:
    """Apply every zone's change set; refuse everything if any change is unsafe."""
    refused = [item.unsafe for item in plan.pending if item.unsafe]
    if refused:
        raise UnsafeError(f"{refused[0]} (nothing applied; {len(refused)} owner(s) refused)")
    applied: list[tuple[str, str]] = []
    for (name, zone), changes in sorted(plan.change_sets().items()):
        try:
            providers[name].apply(changes)
        except TlsagenError as exc:
            if applied:
                done = ", ".join(z for _, z in applied)
                exc.args = (f"{exc} (zones already updated: {done}; re-run to finish)",)
            raise
        applied.append((name, zone))
    return applied


def _serves(server: Endpoint, want: RRset) -> bool:
    try:
        held = dns.tlsa_at(server, want.owner)
    except ProviderError:
        return False
    return held is not None and held.ttl == want.ttl and held.records == want.records


def wait_for_servers(
    plan: Plan,
    providers: Mapping[str, Provider],
    timeout: float,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ServerReport]:
    """Poll every authoritative server until it serves every planned RRset, or time out."""
    zones: dict[tuple[str, str], list[RRset]] = defaultdict(list)
    for item in plan.owners:
        zones[(item.provider, item.zone)].append(item.desired)
    pending: dict[tuple[str, Endpoint], list[RRset]] = {}
    for (name, zone), wanted in sorted(zones.items()):
        for server in providers[name].servers(zone):
            pending[(zone, server)] = list(wanted)
    total = sum(len(w) for w in pending.values())
    started = clock()
    finished: dict[tuple[str, Endpoint], float] = {}
    delay = 0.2
    with ThreadPoolExecutor(POLL_WORKERS) as pool:
        while True:
            jobs = [(key, want) for key, wanted in pending.items() for want in wanted]
            served = list(pool.map(lambda job: _serves(job[0][1], job[1]), jobs))
            for (key, want), ok in zip(jobs, served, strict=True):
                if ok:
                    pending[key].remove(want)
            for key, wanted in pending.items():
                if not wanted and key not in finished:
                    finished[key] = clock() - started
            remaining = sum(len(w) for w in pending.values())
            if progress:
                progress(total - remaining, total)
            if not remaining or clock() - started >= timeout:
                break
            sleep(delay)
            delay = min(delay * 1.5, 2.0)
    reports = []
    for (zone, server), wanted in pending.items():
        try:
            serial = dns.soa_serial(server, zone)
        except ProviderError:
            serial = None
        seconds = finished.get((zone, server), clock() - started)
        reports.append(ServerReport(zone, server, serial, tuple(w.owner for w in wanted), seconds))
    return reports
