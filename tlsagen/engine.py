"""The steps of a run, in order: read key material, read DNS, plan the rollover, diff, gate,
apply, wait, deploy, remember."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from tlsagen.config import Config, Service
from tlsagen.core import material, policy
from tlsagen.core.records import Change, ChangeSet, Owner, RRset, diff, rrset
from tlsagen.core.tlsa import TLSAData, matches_key
from tlsagen.errors import ConflictError, ProviderError, TlsagenError, UnsafeError, UsageError
from tlsagen.net import dns
from tlsagen.provider import Endpoint, Provider, load
from tlsagen.rollover import deploy, hooks, keys, planner, slots
from tlsagen.rollover.state import StateFile, default_path, locked, next_key_path

log = logging.getLogger("tlsagen")
# (owners confirmed on every server, owners to confirm, the servers still waited for)
Progress = Callable[[int, int, Sequence[str]], None]
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
class ServicePlan:
    """One service's rollover: its slots, steps and gates, and the files a deploy would install."""

    service: Service
    rollover: planner.Rollover
    managed: bool  # under rollover: deploy configured, or started by `rollover start` or a hook
    staged: deploy.Files | None


@dataclass(frozen=True)
class Plan:
    owners: tuple[OwnerPlan, ...]
    warnings: tuple[str, ...]
    services: tuple[ServicePlan, ...] = ()

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


# A server's state at the end of a wait: it serves every planned RRset; it answered an error
# that waiting will not cure (REFUSED, NOTAUTH, SERVFAIL: it was no longer waited for); it
# answered but not yet the planned records; its last query went unanswered.
SERVING, FAILING, BEHIND, SILENT = "serving", "failing", "behind", "silent"
NEVER_SERVING = ("REFUSED", "NOTAUTH", "SERVFAIL")


@dataclass(frozen=True)
class ServerReport:
    zone: str
    server: Endpoint
    serial: int | None
    missing: tuple[Owner, ...]  # owners this server did not serve as desired
    seconds: float
    state: str  # SERVING, FAILING, BEHIND or SILENT
    rcode: str | None  # of its last answer (None: it did not answer)


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


def state_path(config: Config) -> Path:
    return config.state or default_path()


def _read_slots(config: Config, service: Service, now: datetime, managed: bool) -> slots.Slots:
    generated = next_key_path(state_path(config), service.name)
    return slots.read(service, now, generated, config.resolver, probing=managed)


def _unsafe_reason(
    current: RRset | None, desired: RRset, live: Iterable[material.Material]
) -> str | None:
    """Why replacing `current` by `desired` is unsafe: it would leave a live key that `current`
    covers without any record. Other parameters for the same key (`params` changed) cover it:
    resolvers holding either RRset then match the key the server presents."""
    if current is None:
        return None
    removed = sorted(current.records - desired.records)
    for key in live:
        dropped = [record for record in removed if matches_key(record, [key])]
        if dropped and not any(matches_key(record, [key]) for record in desired.records):
            return (
                f"{desired.owner}: removing '{dropped[0].to_text()}' would leave the key of "
                f"{key.source} (configured as current) without any record; keep parameters in "
                "'params' that cover it until the server presents another key"
            )
    return None


Held = dict[Owner, tuple[str, str, RRset | None]]  # owner -> (provider, zone, what DNS holds)


def _read_dns(providers: Mapping[str, Provider], services: Sequence[Service]) -> Held:
    """What DNS holds for every owner of `services`, read zone by zone through its provider."""
    held: Held = {}
    by_provider: dict[str, list[Service]] = defaultdict(list)
    for service in services:
        by_provider[service.provider].append(service)
    for name, grouped in sorted(by_provider.items()):
        provider = providers[name]
        by_zone: dict[str, list[Owner]] = defaultdict(list)
        for owner, zone in provider.zones([o for s in grouped for o in s.owners]).items():
            by_zone[zone].append(owner)
        for zone, owners in sorted(by_zone.items()):
            found = provider.read(zone, owners)
            held.update({owner: (name, zone, found.get(owner)) for owner in owners})
    return held


@dataclass
class _Served:
    """What every authoritative server serves at each owner, the largest TTL one serves, and
    the servers that did not answer, or answered an error (with its rcode)."""

    records: dict[Owner, frozenset[TLSAData]] = field(default_factory=dict)
    ttl: dict[Owner, int] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)

    def add(self, owner: Owner, found: RRset | None) -> None:
        records = found.records if found else frozenset()
        before = self.records.get(owner)
        self.records[owner] = records if before is None else before & records
        if found is not None:
            self.ttl[owner] = max(self.ttl.get(owner, 0), found.ttl)


def _ask_servers(
    providers: Mapping[str, Provider], held: Held, owners: Collection[Owner]
) -> _Served:
    """Ask every authoritative server what it serves at each owner.

    A provider that lists no servers (its `apply` waits until the change is live) serves what
    it holds.
    """
    served = _Served()
    jobs: list[tuple[Endpoint, Owner]] = []
    for owner in owners:
        name, zone, found = held[owner]
        servers = providers[name].servers(zone)
        if not servers:
            served.add(owner, found)
        jobs += [(server, owner) for server in servers]

    def ask(job: tuple[Endpoint, Owner]) -> RRset | ProviderError | None:
        try:
            return dns.tlsa_at(*job)
        except ProviderError as exc:
            return exc

    with ThreadPoolExecutor(POLL_WORKERS) as pool:
        for (server, owner), answer in zip(jobs, pool.map(ask, jobs), strict=True):
            if isinstance(answer, dns.AnswerError):
                served.silent.add(f"{server} ({answer.rcode})")
            elif isinstance(answer, ProviderError):
                served.silent.add(str(server))
            else:
                served.add(owner, answer)
    return served


def _validated(
    resolver: Endpoint, owners: Sequence[Owner]
) -> tuple[frozenset[TLSAData], str, bool]:
    """The records `resolver` returns as DNSSEC-secure at every owner, why others are not, and
    whether it answered an owner as other than secure."""
    from tlsagen.net import lookup  # dnspython's DNSSEC modules: only for a deploy to gate

    asker = lookup.Resolver(resolver, timeout=5.0)
    with ThreadPoolExecutor(POLL_WORKERS) as pool:
        answers = list(pool.map(lambda owner: asker.query(owner.name, "TLSA"), owners))
    secure: frozenset[TLSAData] | None = None
    problems = []
    for owner, answer in zip(owners, answers, strict=True):
        found: frozenset[TLSAData] = frozenset()
        if answer.status != lookup.SECURE:
            detail = f": {answer.detail}" if answer.detail else ""
            problems.append(f"{owner} is {answer.status}{detail}")
        elif answer.rrset is not None:
            found = dns.to_rrset(owner, answer.rrset).records
        secure = found if secure is None else secure & found
    why = "; ".join(problems) or f"{resolver} does not serve them yet; it may hold an older RRset"
    return secure or frozenset(), why, bool(problems)


def _margin_warning(config: Config, service: Service) -> list[str]:
    default = planner.margin_for(service.ttl, None)
    if config.margin is None or config.margin >= default:
        return []
    return [
        f"[defaults] margin = {config.margin:g} s is below the default for service "
        f"{service.name} ({default:g} s with TTL {service.ttl} s); keep it only in test setups"
    ]


def _view(
    service: Service, found: slots.Slots, held: Held, served: _Served, resolver: Endpoint | None
) -> planner.View:
    records = [held[o][2] for o in service.owners]
    observed = [served.records.get(o, frozenset()) for o in service.owners]
    ttls = [rr.ttl for rr in records if rr] + [served.ttl.get(o, 0) for o in service.owners]

    def key(item: material.Material) -> planner.Key:
        return slots.key(item, service.params)

    validated, unvalidated, insecure = None, "", False
    if resolver is not None and found.staged is not None:
        validated, unvalidated, insecure = _validated(resolver, service.owners)
    return planner.View(
        ttl=service.ttl,
        current=tuple(key(m) for m in found.current),
        presented=tuple(key(m) for m in found.presented),
        live=frozenset(slots.key_id(m) for m in found.live) if found.live else None,
        staged=key(found.staged.chain) if found.staged else None,
        nexts=tuple(key(m) for m in found.nexts),
        held=frozenset(r for rr in records if rr for r in rr.records),
        held_ttl=max(ttls, default=None) or None,
        served=frozenset.intersection(*observed) if observed else frozenset(),
        silent=tuple(sorted(served.silent)),
        managed=service.deploy is not None,
        validated=validated,
        unvalidated=unvalidated,
        insecure=insecure,
    )


def make_plan(
    config: Config,
    providers: Mapping[str, Provider],
    now: datetime,
    memories: Mapping[str, planner.Memory] | None = None,
    only: Collection[str] | None = None,
    emergency: bool = False,
) -> Plan:
    """Read key material and DNS, plan each service's rollover, and pair each owner's desired
    RRset with the one DNS holds.

    With `memories` (the state) the services under rollover are observed too: their servers are
    probed and every authoritative server is asked what it serves. `only` limits the services.
    """
    services = [s for s in config.services if only is None or s.name in only]
    remembered = memories or {}
    managed = {
        s.name: s.deploy is not None or remembered.get(s.name, planner.Memory()).managed
        for s in services
    }
    observing = {s.name for s in services if memories is not None and managed[s.name]}
    found = {s.name: _read_slots(config, s, now, s.name in observing) for s in services}
    warnings = [w for s in services for w in (*found[s.name].warnings, *_margin_warning(config, s))]
    held = _read_dns(providers, services)
    watched = [o for s in services if s.name in observing for o in s.owners]
    served = _ask_servers(providers, held, watched)
    owners: list[OwnerPlan] = []
    planned: list[ServicePlan] = []
    for service in services:
        resolver = config.resolver if service.name in observing else None
        view = _view(service, found[service.name], held, served, resolver)
        memory = remembered.get(service.name, planner.Memory())
        result = planner.plan(view, memory, now, config.margin, emergency)
        planned.append(
            ServicePlan(service, result, managed[service.name], found[service.name].staged)
        )
        for owner in service.owners:
            name, zone, current = held[owner]
            desired = rrset(owner, service.ttl, result.records)
            warnings += policy.lint_rrset_size(owner.name, len(desired.records))
            live = (*found[service.name].current, *found[service.name].presented)
            unsafe = _unsafe_reason(current, desired, live)
            owners.append(
                OwnerPlan(service.name, name, zone, desired, current, result.records, unsafe)
            )
    owners.sort(key=lambda item: (item.provider, item.zone, item.owner))
    return Plan(tuple(owners), tuple(dict.fromkeys(warnings)), tuple(planned))


def apply(
    plan: Plan, providers: Mapping[str, Provider], applied: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """Apply every zone's change set; refuse everything if any change is unsafe. Each zone
    updated is appended to `applied` as it is, so a caller knows them also when a later fails."""
    refused = [item.unsafe for item in plan.pending if item.unsafe]
    if refused:
        raise UnsafeError(f"{refused[0]} (nothing applied; {len(refused)} owner(s) refused)")
    applied = [] if applied is None else applied
    for (name, zone), changes in sorted(plan.change_sets().items()):
        try:
            providers[name].apply(changes)
        except TlsagenError as exc:
            if applied:
                done = ", ".join(z for _, z in applied)
                rest = ", ".join(z for n, z in sorted(plan.change_sets()) if (n, z) not in applied)
                exc.args = (
                    f"{exc} (zones already updated: {done}; not updated: {rest}; re-run to finish)",
                )
            raise
        applied.append((name, zone))
    return applied


SERVED, WAITING, REPLACED = "served", "waiting", "replaced"


def _poll(server: Endpoint, item: OwnerPlan) -> tuple[str, RRset | None, str | None]:
    """What `server` serves for the item's owner, and SERVED when that is the planned RRset;
    REPLACED when it is neither that nor what the run read before applying (another writer, or
    a secondary lagging further behind); FAILING when it answers an rcode of NEVER_SERVING;
    WAITING otherwise, and when it does not answer. Last, the answer's rcode."""
    try:
        held, rcode = dns.tlsa_answer(server, item.owner)
    except dns.AnswerError as exc:
        return (FAILING if exc.rcode in NEVER_SERVING else WAITING), None, exc.rcode
    except ProviderError:
        return WAITING, None, None
    if held == item.desired:
        return SERVED, held, rcode
    return (WAITING if held == item.current else REPLACED), held, rcode


def _raise_if_replaced(items: Iterable[OwnerPlan], providers: Mapping[str, Provider]) -> set[Owner]:
    """ConflictError when the provider now holds, for one of `items`, other than the plan: a
    server serving an RRset nobody planned is only a suspicion until the source confirms it.
    The owners the source was read for (and holds as planned)."""
    by_zone: dict[tuple[str, str], dict[Owner, OwnerPlan]] = defaultdict(dict)
    for item in items:
        by_zone[(item.provider, item.zone)][item.owner] = item
    confirmed: set[Owner] = set()
    for (name, zone), planned in sorted(by_zone.items()):
        try:
            held = providers[name].read(zone, planned)
        except ProviderError:
            continue
        for owner, item in sorted(planned.items()):
            now = held.get(owner)
            if now != item.desired:
                holds = " ".join(now.texts()) if now else "no TLSA records"
                raise ConflictError(
                    f"another writer changed {owner} TLSA in zone {zone} after this run published "
                    f"it; it now holds {holds}; run 'tlsagen plan' to see the change before "
                    "publishing again"
                )
        confirmed |= set(planned)
    return confirmed


def _confirmed_at(provider: Provider, zone: str) -> Endpoint | None:
    """The server the provider's own read showed serving every planned RRset of `zone` after
    its `apply` (a provider may tell, with a `confirmed` method): it is not asked again."""
    confirmed: Callable[[str], Endpoint | None] | None = getattr(provider, "confirmed", None)
    return confirmed(zone) if confirmed is not None else None


def wait_for_servers(
    plan: Plan,
    providers: Mapping[str, Provider],
    timeout: float,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ServerReport]:
    """Poll every authoritative server until it serves every planned RRset, or time out; a
    server is asked about an owner until it serves it, and not at all when the provider's read
    after applying confirmed it (`_confirmed_at`).

    A server that answers REFUSED, NOTAUTH or SERVFAIL is named at once (a warning) and no
    longer waited for: it will not start serving by waiting. ConflictError as soon as another
    writer is found to have replaced a planned RRset: waiting longer could not help.
    """
    zones: dict[tuple[str, str], list[OwnerPlan]] = defaultdict(list)
    for item in plan.owners:
        zones[(item.provider, item.zone)].append(item)
    pending: dict[tuple[str, Endpoint], list[OwnerPlan]] = {}
    rcodes: dict[tuple[str, Endpoint], str | None] = {}  # each server's last rcode
    for (name, zone), wanted in sorted(zones.items()):
        read_at = _confirmed_at(providers[name], zone)
        for server in providers[name].servers(zone):
            pending[(zone, server)] = [] if server == read_at else list(wanted)
            if server == read_at:
                rcodes[(zone, server)] = "NOERROR"  # it answered the provider's read
    total = sum(len(w) for w in pending.values())
    started = clock()
    finished: dict[tuple[str, Endpoint], float] = {}
    delay = 0.2
    cleared: set[tuple[Owner, RRset | None]] = set()  # odd answers the source showed harmless
    failing: set[tuple[str, Endpoint]] = set()
    with ThreadPoolExecutor(POLL_WORKERS) as pool:
        while True:
            polling = [key for key in pending if key not in failing]
            jobs = [(key, item) for key in polling for item in pending[key]]
            polled = list(pool.map(lambda job: _poll(job[0][1], job[1]), jobs))
            suspects: dict[tuple[Owner, RRset | None], OwnerPlan] = {}
            for (key, item), (answer, held, rcode) in zip(jobs, polled, strict=True):
                rcodes[key] = rcode
                if answer == SERVED:
                    pending[key].remove(item)
                elif answer == FAILING and key not in failing:
                    failing.add(key)
                    log.warning(
                        "server %s answered %s for %s in zone %s: it will not serve the records "
                        "by waiting; no longer waiting for it",
                        key[1],
                        rcode,
                        item.owner,
                        key[0],
                    )
                elif answer == REPLACED and (item.owner, held) not in cleared:
                    suspects[(item.owner, held)] = item
            confirmed = _raise_if_replaced(suspects.values(), providers)
            cleared |= {seen for seen in suspects if seen[0] in confirmed}
            for key, wanted in pending.items():
                if not wanted and key not in finished:
                    finished[key] = clock() - started
            waited = [key for key, wanted in pending.items() if wanted and key not in failing]
            if progress:
                unserved = sum(len(w) for w in pending.values())
                progress(total - unserved, total, [str(server) for _, server in waited])
            if not waited or clock() - started >= timeout:
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
        rcode = rcodes.get((zone, server))
        state = SERVING if not wanted else FAILING if (zone, server) in failing else BEHIND
        if state == BEHIND and rcode is None:
            state = SILENT
        missing = tuple(w.owner for w in wanted)
        reports.append(ServerReport(zone, server, serial, missing, seconds, state, rcode))
    return reports


# --- rollover ------------------------------------------------------------------------------------

MAX_PASSES = 6  # publish, observe, deploy, retire, observe: an emergency takes five


@dataclass
class RolloverResult:
    """What `advance` did: its first and last plans, zones updated, servers' reports, deploys."""

    first: Plan
    plan: Plan
    applied: list[tuple[str, str]] = field(default_factory=list)
    servers: list[ServerReport] = field(default_factory=list)
    deployed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    @property
    def lagging(self) -> list[ServerReport]:
        return [report for report in self.servers if report.missing]

    def _closed(self, refused: bool) -> list[tuple[str, planner.Step]]:
        return [
            (item.service.name, step)
            for item in self.plan.services
            for step in item.rollover.steps
            if not step.gate.passed and step.gate.refused == refused
        ]

    def refused(self) -> list[tuple[str, planner.Step]]:
        """(service, step) for each step whose gate refuses it: evidence says it is unsafe."""
        return self._closed(refused=True)

    def waiting(self) -> list[tuple[str, planner.Step]]:
        """(service, step) for each step whose gate waits: for its clock, or to be started."""
        return self._closed(refused=False)


@contextmanager
def open_state(config: Config, only: Collection[str] | None = None) -> Iterator[StateFile]:
    """The state, locked when a service of the run is under rollover; else read, never written."""
    path = state_path(config)
    reading = StateFile(path, writable=False)
    services = [s for s in config.services if only is None or s.name in only]
    if any(s.deploy is not None or reading.get(s.name).managed for s in services):
        with locked(path) as state:
            yield state
    else:
        yield reading


def remember(state: StateFile, plan: Plan) -> None:
    """Store what this plan observed of every service under rollover."""
    for item in plan.services:
        if item.managed:
            state.put(item.service.name, item.rollover.memory)


def put_under_rollover(state: StateFile, services: Iterable[str]) -> None:
    for name in services:
        state.put(name, replace(state.get(name), managed=True))


def advance(
    config: Config,
    providers: Mapping[str, Provider],
    state: StateFile,
    clock: Callable[[], datetime],
    only: Collection[str] | None = None,
    emergency: bool = False,
    deploying: bool = True,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> RolloverResult:
    """Carry out every step whose gate is open: publish, deploy (and reload), retire.

    Each pass plans from a fresh observation and stores it, so a crash at any point leaves a
    state the next run continues from. A DNS change is followed by waiting for every server
    and observing again; a deploy by observing again. Closed gates are left for the caller to
    report (`waiting`, `refused`).
    """
    services = [s for s in config.services if only is None or s.name in only]
    recovered = []
    for service in services:
        if deploying and service.deploy is not None:
            done = deploy.recover(service.deploy)
            if done:
                recovered.append(f"service {service.name}: {done}")
    first = make_plan(config, providers, clock(), state.memories, only, emergency)
    result = RolloverResult(first, first, recovered=recovered)
    for _ in range(MAX_PASSES):
        plan = result.plan
        remember(state, plan)
        if plan.pending:
            result.applied += apply(plan, providers)
            result.servers = wait_for_servers(plan, providers, timeout, progress)
            if result.lagging:
                break
        else:
            due = [
                item
                for item in plan.services
                if deploying and (step := item.rollover.step(planner.DEPLOY)) and step.gate.passed
            ]
            if not due:
                break
            for item in due:
                assert item.service.deploy is not None and item.staged is not None
                deploy.install(item.service.deploy, item.staged)
                result.deployed.append(item.service.name)
        result.plan = make_plan(config, providers, clock(), state.memories, only, emergency)
    return result


def late_keys(
    plan: Plan, before: Mapping[str, planner.Memory], now: datetime, margin: float | None
) -> list[str]:
    """Why a just-renewed key of a service without `deploy` went live too early, per service.

    `before` is the memory from before this run. A service whose owners held no TLSA records
    (a first issuance) has none that its new key could contradict. A key the server was already
    seen presenting is not new (a renewal that kept its key); a key whose records DNS held but
    tlsagen has no memory of is given the benefit of the doubt.
    """
    late = []
    held_by_service: dict[str, set[TLSAData]] = defaultdict(set)
    for item in plan.owners:
        if item.current is not None:
            held_by_service[item.service] |= item.current.records
    for entry in plan.services:
        if entry.service.deploy is not None:
            continue
        name = entry.service.name
        if not held_by_service[name]:
            continue  # a first issuance: no record a resolver could hold contradicts the key
        memory = before.get(name, planner.Memory())
        was_live = set(memory.live.keys.split(",")) if memory.live else set()
        for slot in entry.rollover.slots:
            if slot.role != planner.CURRENT or slot.name in was_live:
                continue
            if not slot.records <= held_by_service[name]:
                late.append(f"service {name}: the key of {slot.source} was not published before")
            elif any(r in memory.published for r in slot.records):
                key = planner.Key(slot.name, slot.source, slot.records)
                gate = planner.deploy_gate(key, memory, now, margin)
                if not gate.passed:
                    late.append(
                        f"service {name}: the key of {slot.source} went live too early: "
                        f"{gate.reason}"
                    )
    return late


@dataclass(frozen=True)
class NextKey:
    service: str
    path: str
    generated: bool  # False: an existing key was adopted
    key_type: str


def service_named(config: Config, name: str) -> Service:
    for service in config.services:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in config.services) or "none"
    raise UsageError(f"no service '{name}' in {config.path} (services: {known})")


def ensure_next_key(
    config: Config, state: StateFile, name: str, key_type: str | None, now: datetime
) -> NextKey:
    """Adopt the service's standing next key, or generate one; put the service under rollover.

    A next key is any next-key file, dehydrated roll key, acme.sh KEY.next or key generated
    before, that is not the key the server presents. A new one goes to the configured next-key
    path, else to the state directory; it has the current key's type unless `key_type` says.
    """
    service = service_named(config, name)
    found = _read_slots(config, service, now, managed=False)
    live = {slots.key_id(m) for m in found.current}
    waiting = [m for m in found.nexts if slots.key_id(m) not in live]
    if waiting:
        put_under_rollover(state, [name])
        return NextKey(name, waiting[0].source, False, waiting[0].key_type)
    target = (
        Path(service.next_keys[0]) if service.next_keys else next_key_path(state_path(config), name)
    )
    if service.next_keys and target.exists():
        raise UnsafeError(
            f"next-key {target} is the key the server presents now; move it away from that "
            f"path (keeping the copy the server reads), then run 'tlsagen rollover start {name}'"
        )
    model = found.current or ((found.staged.chain,) if found.staged else ())
    if key_type is None and not model:
        raise UsageError(f"service {name} has no current key to copy the type of; give --key-type")
    kind = keys.key_type(key_type) if key_type else model[0].key_type
    keys.write_new_key(target, kind)
    put_under_rollover(state, [name])
    return NextKey(name, str(target), True, kind)


@dataclass
class RenewalResult:
    """What a renewal hook run found and did."""

    renewal: hooks.Renewal
    warnings: list[str]  # the ACME client's settings that would break the next renewal
    late: list[str]  # keys that went live before their records were published
    result: RolloverResult | None


def _client_warnings(renewal: hooks.Renewal, service: Service) -> list[str]:
    deploys = service.deploy is not None
    if renewal.client == hooks.DEHYDRATED:
        return hooks.dehydrated_warnings(service, deploys)
    if renewal.client != hooks.CERTBOT:
        return []
    lineage = renewal.directories[0]
    conf = hooks.certbot_conf_path(lineage)
    try:
        params = hooks.renewal_params(conf.read_text())
    except OSError:
        return [f"cannot read {conf}: certbot's renewal settings for {lineage.name} not checked"]
    key_type = material.read_source(service.current[0]).key_type
    return hooks.certbot_warnings(lineage.name, params, key_type, deploys)


def after_renewal(
    config: Config,
    providers: Mapping[str, Provider],
    renewal: hooks.Renewal,
    clock: Callable[[], datetime],
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> RenewalResult:
    """A renewal hook run: put the services using the renewed files under rollover, check the
    ACME client's settings, then advance them (staging a new key when tlsagen deploys)."""
    services = [s for s in config.services if renewal.concerns(s)]
    names = [s.name for s in services]
    found = RenewalResult(renewal, [], [], None)
    if not services:
        return found
    for service in services:
        found.warnings += _client_warnings(renewal, service)
    with locked(state_path(config)) as state:
        before = dict(state.memories)
        put_under_rollover(state, names)
        started = clock()
        found.result = advance(
            config, providers, state, clock, names, False, True, timeout, progress
        )
    found.late = late_keys(found.result.first, before, started, config.margin)
    return found
