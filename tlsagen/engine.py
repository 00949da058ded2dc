"""The stories tlsagen tells, one function each for the command line to call: `preview` (plan,
`publish --dry-run`, `rollover status`), `publish`, `advance`, `start` and `after_renewal`. Each
reads key material and DNS, plans the rollover, diffs, gates, applies, waits for every server,
deploys and remembers, in that order; the steps are the private functions below."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tlsagen.config import Config, Service
from tlsagen.core import material, policy
from tlsagen.core.endpoint import Endpoint
from tlsagen.core.records import Owner, RRset, rrset
from tlsagen.core.tlsa import TLSAData, matches_key
from tlsagen.errors import TlsagenError, UnsafeError, UsageError
from tlsagen.net.propagation import Held, Progress, Served, ask_servers, validated, wait_for_servers
from tlsagen.plans import OwnerPlan, Plan, RunResult, ServicePlan
from tlsagen.registry import Provider, create
from tlsagen.rollover import deploy, hooks, keys, planner, slots
from tlsagen.rollover.state import (
    StateFile,
    default_path,
    locked,
    next_key_path,
    under_rollover,
)
from tlsagen.rollover.state import (
    load as load_state,
)

log = logging.getLogger("tlsagen")


def open_providers(config: Config, names: Iterable[str]) -> dict[str, Provider]:
    """Create the named providers; imports only their distributions."""
    opened = {}
    for name in sorted(set(names)):
        configured = config.providers[name]
        opened[name] = create(configured.kind, configured.settings)
    return opened


def state_path(config: Config) -> Path:
    return config.state or default_path()


def _read_slots(config: Config, service: Service, now: datetime, probing: bool) -> slots.Slots:
    generated = next_key_path(state_path(config), service.name)
    return slots.read(service, now, generated, config.resolver, probing=probing)


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


def _margin_warning(config: Config, service: Service) -> list[str]:
    default = planner.margin_for(service.ttl, None)
    if config.margin is None or config.margin >= default:
        return []
    return [
        f"[defaults] margin = {config.margin:g} s is below the default for service "
        f"{service.name} ({default:g} s with TTL {service.ttl} s); keep it only in test setups"
    ]


def _view(
    service: Service,
    found: slots.Slots,
    held: Held,
    served: Served,
    resolver: Endpoint | None,
    observed_rollover: bool,
) -> planner.View:
    records = [held[o][2] for o in service.owners]
    observed = [served.records.get(o, frozenset()) for o in service.owners]
    ttls = [rr.ttl for rr in records if rr] + [served.ttl.get(o, 0) for o in service.owners]

    def key(item: material.Material) -> planner.Key:
        return slots.key(item, service.params)

    secure, unvalidated, insecure = None, "", False
    if resolver is not None and found.staged is not None:
        secure, unvalidated, insecure = validated(resolver, service.owners)
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
        under_rollover=observed_rollover,
        validated=secure,
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
    under = {s.name: under_rollover(s, remembered.get(s.name, planner.Memory())) for s in services}
    observing = {s.name for s in services if memories is not None and under[s.name]}
    found = {s.name: _read_slots(config, s, now, s.name in observing) for s in services}
    warnings = [w for s in services for w in (*found[s.name].warnings, *_margin_warning(config, s))]
    held = _read_dns(providers, services)
    watched = [o for s in services if s.name in observing for o in s.owners]
    served = ask_servers(providers, held, watched)
    owners: list[OwnerPlan] = []
    planned: list[ServicePlan] = []
    for service in services:
        resolver = config.resolver if service.name in observing else None
        view = _view(service, found[service.name], held, served, resolver, under[service.name])
        memory = remembered.get(service.name, planner.Memory())
        result = planner.plan(view, memory, now, config.margin, emergency)
        planned.append(
            ServicePlan(service, result, under[service.name], found[service.name].staged)
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
    updated is appended to `applied` as it is, so a caller knows them also when a later fails
    (`_after_applying` names them)."""
    refused = [item.unsafe for item in plan.pending if item.unsafe]
    if refused:
        raise UnsafeError(f"{refused[0]} (nothing applied; {len(refused)} owner(s) refused)")
    applied = [] if applied is None else applied
    for (name, zone), changes in sorted(plan.change_sets().items()):
        providers[name].apply(changes)
        applied.append((name, zone))
    return applied


# --- the stories ---------------------------------------------------------------------------------

MAX_PASSES = 6  # publish, observe, deploy, retire, observe: an emergency takes five


def preview(
    config: Config,
    providers: Mapping[str, Provider],
    *,
    now: datetime,
    only: Collection[str] | None = None,
) -> Plan:
    """What a publish would change and where each rollover stands (`plan`, `publish --dry-run`,
    `rollover status`): the state is read, neither locked nor written; nothing is changed. Its
    warnings are logged."""
    plan = make_plan(config, providers, now, load_state(state_path(config)), only)
    for warning in plan.warnings:
        log.warning(warning)
    return plan


def publish(
    config: Config,
    providers: Mapping[str, Provider],
    *,
    clock: Callable[[], datetime],
    wait: bool = True,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> RunResult:
    """`tlsagen publish`: one pass of `advance` that deploys nothing. A deploy a crash left half
    done is recovered first; the records are applied, every server is waited for (unless
    `wait` is False: also when nothing changed, to confirm what DNS holds is served), and the
    services under rollover are observed once more and remembered."""
    with _open_state(config) as state:
        return _run(
            config,
            providers,
            state,
            clock,
            deploying=False,
            passes=1,
            wait=wait,
            wait_unchanged=wait,
            timeout=timeout,
            progress=progress,
            warn=True,
        )


def advance(
    config: Config,
    providers: Mapping[str, Provider],
    *,
    clock: Callable[[], datetime],
    only: Collection[str] | None = None,
    emergency: bool = False,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> RunResult:
    """`tlsagen rollover advance`: every step whose gate is open (publish, deploy and reload,
    retire), pass after pass, until none is due."""
    with _open_state(config, only) as state:
        return _run(
            config,
            providers,
            state,
            clock,
            only=only,
            emergency=emergency,
            timeout=timeout,
            progress=progress,
        )


def start(
    config: Config,
    providers: Mapping[str, Provider],
    service: str,
    *,
    clock: Callable[[], datetime],
    key_type: str | None = None,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> tuple[NextKey, RunResult]:
    """`tlsagen rollover start`: adopt or generate the service's next key, put the service
    under rollover, and publish its records (deploying nothing). Refused (UsageError) for a
    certbot lineage: certbot never uses a standing next key."""
    lineage = hooks.certbot_lineage(service_named(config, service))
    if lineage is not None:
        raise UsageError(
            f"service {service} reads certbot's lineage {lineage}, and certbot never uses a "
            "standing next key (it makes a new key at renewal, or keeps the current one with "
            "reuse_key): its record would never match. Let tlsagen stage certbot's renewals "
            "instead: add deploy = { cert, key, reload } to the service and run 'tlsagen "
            "publish' as certbot's deploy hook (docs/rollover.md); nothing done"
        )
    with locked(state_path(config)) as state:
        found = ensure_next_key(config, state, service, key_type, clock())
        verb = "generated" if found.generated else "adopted"
        log.info("%s next key %s (%s) for service %s", verb, found.path, found.key_type, service)
        result = _run(
            config,
            providers,
            state,
            clock,
            only=[service],
            deploying=False,
            timeout=timeout,
            progress=progress,
        )
    return found, result


@contextmanager
def _open_state(config: Config, only: Collection[str] | None = None) -> Iterator[StateFile]:
    """The state, locked when a service of the run is under rollover; else read, never written."""
    path = state_path(config)
    reading = StateFile(path, writable=False)
    services = [s for s in config.services if only is None or s.name in only]
    if any(under_rollover(s, reading.get(s.name)) for s in services):
        with locked(path) as state:
            yield state
    else:
        yield reading


def _remember(state: StateFile, plan: Plan) -> None:
    """Store, in one write, what this plan observed of every service under rollover."""
    state.remember(
        {item.service.name: item.rollover.memory for item in plan.services if item.under_rollover}
    )


def put_under_rollover(state: StateFile, services: Iterable[str]) -> None:
    state.remember({name: replace(state.get(name), started=True) for name in services})


def _run(
    config: Config,
    providers: Mapping[str, Provider],
    state: StateFile,
    clock: Callable[[], datetime],
    *,
    only: Collection[str] | None = None,
    emergency: bool = False,
    deploying: bool = True,
    passes: int = MAX_PASSES,
    wait: bool = True,
    wait_unchanged: bool = False,
    timeout: float = 300.0,
    progress: Progress | None = None,
    warn: bool = False,
) -> RunResult:
    """Carry out, pass after pass, every step whose gate is open: publish, deploy (when
    `deploying`), retire.

    A deploy a crash left half done is recovered first. Each pass plans from a fresh
    observation and stores it (one write), so a crash at any point leaves a state the next run
    continues from. A DNS change is followed by waiting for every server and, when a service is
    under rollover, by observing again; a deploy by observing again. Closed gates are left for
    the caller to report (`waiting`, `refused`). An error after a change was applied ends the
    run as `failure`, saying what was applied; before that, it is raised. With `warn`, the
    first plan's warnings are logged before anything is applied (a renewal hook leaves them
    out: certbot takes anything on stderr for an error).
    """
    services = [s for s in config.services if only is None or s.name in only]
    recovered = []
    for service in services:
        if service.deploy is not None:
            done = deploy.recover(service.deploy)
            if done:
                recovered.append(f"service {service.name}: {done}")
    first = make_plan(config, providers, clock(), state.memories, only, emergency)
    for warning in first.warnings if warn else ():
        log.warning(warning)
    result = RunResult(first, first, recovered=recovered)
    try:
        for _ in range(passes):
            if not _one_pass(
                result,
                providers,
                state,
                deploying,
                progress,
                wait=wait,
                wait_unchanged=wait_unchanged,
                timeout=timeout,
            ):
                break
            result.plan = make_plan(config, providers, clock(), state.memories, only, emergency)
        _remember(state, result.plan)
    except TlsagenError as exc:
        if not (result.applied or result.deployed):
            raise
        result.failure = _after_applying(exc, result)
    return result


def _one_pass(
    result: RunResult,
    providers: Mapping[str, Provider],
    state: StateFile,
    deploying: bool,
    progress: Progress | None,
    *,
    wait: bool,
    wait_unchanged: bool,
    timeout: float,
) -> bool:
    """One pass on `result.plan`: remember it, then apply its changes and wait for the servers
    (`wait`: after a change; `wait_unchanged`: also when nothing changed), or else install the
    certificates whose deploy gate passed. Whether a new observation should follow: something
    changed, and a service under rollover is there to observe."""
    plan = result.plan
    _remember(state, plan)
    if plan.pending or wait_unchanged:
        _apply_pass(plan, providers, result)
        if not wait:
            return False
        result.servers = wait_for_servers(plan, providers, timeout, progress)
        observed = any(item.under_rollover for item in plan.services)
        return bool(plan.pending) and observed and not result.lagging
    due = [
        item
        for item in plan.services
        if deploying and (step := item.rollover.step(planner.DEPLOY)) and step.gate.passed
    ]
    for item in due:
        assert item.service.deploy is not None and item.staged is not None
        deploy.install(item.service.deploy, item.staged)
        result.deployed.append(item.service.name)
    return bool(due)


def _apply_pass(plan: Plan, providers: Mapping[str, Provider], result: RunResult) -> None:
    """Apply `plan`, adding each zone updated to `result.applied` (once, however many passes
    update it); when a zone fails, the zones of this plan left are `result.unapplied`."""
    done: list[tuple[str, str]] = []
    try:
        apply(plan, providers, done)
    except TlsagenError:
        planned = sorted(plan.change_sets())
        result.unapplied = [zone for name, zone in planned if (name, zone) not in done]
        raise
    finally:
        for name, zone in done:
            log.info("updated zone %s through provider %s", zone, name)
        result.applied += [key for key in done if key not in result.applied]


def _after_applying(exc: TlsagenError, result: RunResult) -> TlsagenError:
    """`exc`, raised once a change was applied, saying what was applied and deployed, and which
    zones of the plan it was applying were not updated."""
    done = []
    if result.applied:
        done.append(f"zones already updated: {', '.join(zone for _, zone in result.applied)}")
    if result.unapplied:
        done.append(f"not updated: {', '.join(result.unapplied)}")
    if result.deployed:
        done.append(f"deployed: service(s) {', '.join(result.deployed)}")
    exc.args = (f"{exc} ({'; '.join(done)}; run the command again to finish)",)
    return exc


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
        was_live = memory.live.keys if memory.live else frozenset()
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
    found = _read_slots(config, service, now, probing=False)
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
    result: RunResult | None


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
    *,
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
        found.result = _run(
            config, providers, state, clock, only=names, timeout=timeout, progress=progress
        )
    found.late = late_keys(found.result.first, before, started, config.margin)
    return found
