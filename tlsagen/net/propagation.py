"""What the authoritative servers serve: asked once for each owner (to observe a rollover), or
polled until every server serves a plan (the wait after a publish), and what a validating resolver
returns as secure."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tlsagen.core.endpoint import Endpoint
from tlsagen.core.records import Owner, RRset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, ProviderError
from tlsagen.net import dns
from tlsagen.plans import (
    BEHIND,
    FAILING,
    NEVER_SERVING,
    SERVING,
    SILENT,
    OwnerPlan,
    Plan,
    ServerReport,
)
from tlsagen.registry import Provider

log = logging.getLogger("tlsagen")
# (owners confirmed on every server, owners to confirm, the servers still waited for)
Progress = Callable[[int, int, Sequence[str]], None]
POLL_WORKERS = 16
Held = dict[Owner, tuple[str, str, RRset | None]]  # owner -> (provider, zone, what DNS holds)


@dataclass
class Served:
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


def ask_servers(providers: Mapping[str, Provider], held: Held, owners: Collection[Owner]) -> Served:
    """Ask every authoritative server what it serves at each owner.

    A provider that lists no servers (its `apply` waits until the change is live) serves what
    it holds.
    """
    served = Served()
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


def validated(resolver: Endpoint, owners: Sequence[Owner]) -> tuple[frozenset[TLSAData], str, bool]:
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


SERVED, WAITING, REPLACED = "served", "waiting", "replaced"


Polled = tuple[str, RRset | None, str | None]  # a verdict, the RRset served, the rcode


def _poll(server: Endpoint, item: OwnerPlan) -> Polled:
    """What `server` serves for the item's owner, and its `_verdict`; FAILING when it answers
    an rcode of NEVER_SERVING; WAITING when it does not answer. Last, the answer's rcode."""
    try:
        held, rcode = dns.tlsa_answer(server, item.owner)
    except dns.AnswerError as exc:
        return (FAILING if exc.rcode in NEVER_SERVING else WAITING), None, exc.rcode
    except ProviderError:
        return WAITING, None, None
    return _verdict(item, held), held, rcode


def _verdict(item: OwnerPlan, held: RRset | None) -> str:
    """SERVED when a server holds the planned RRset; REPLACED when it is neither that nor what
    the run read before applying (another writer, or a secondary lagging further behind);
    WAITING otherwise."""
    if held == item.desired:
        return SERVED
    return WAITING if held == item.current else REPLACED


# One round's answers of a server read whole (`_read_zone`): its SOA serial (None: not asked)
# and, when the zone was read, each wanted owner's RRset; UNCHANGED when the serial did not move
# since the last read. None when it cannot be read whole (ask about each owner instead).
UNCHANGED = "unchanged"
ZoneRead = tuple[int | None, Mapping[Owner, RRset] | str] | None
NOT_READ = -1  # the serial of a server not read whole yet


def _read_zone(
    provider: Provider, zone: str, server: Endpoint, owners: Sequence[Owner], seen: int | None
) -> ZoneRead:
    """What `server` serves at the planned `owners` (all of them: the provider judges the
    cost of a transfer by the plan, not by the owners still missing), by one read of the whole
    zone through the provider. The first read is made at once (no serial asked: a provider
    that cannot read whole costs no message); later ones only when the zone's SOA serial
    there moved from `seen`, the serial before the last read (a server serving the same serial
    serves the same zone). The serial alone proves nothing: servers that number serials
    themselves may serve another zone under one."""
    serial = None
    if seen != NOT_READ:
        try:
            serial = dns.soa_serial(server, zone)
        except ProviderError:
            return None  # asked about each owner, which names a failing server
        if serial is None:
            return None
        if serial == seen:
            return serial, UNCHANGED
    served = provider.served(zone, server, owners)
    return None if served is None else (serial, served)


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
    after applying confirmed it (`Provider.confirmed`). A server the provider can read whole
    (`Provider.served`: one zone transfer) is read so, and again only once its SOA serial moved;
    one that cannot be read whole is asked about each owner.

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
        read_at = providers[name].confirmed(zone)
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
    whole = {key for key, wanted in pending.items() if wanted}  # read whole while it can be
    serials: dict[tuple[str, Endpoint], int | None] = {}  # each server read whole: its serial
    provider_of = {zone: providers[name] for name, zone in zones}
    planned = {zone: [item.owner for item in wanted] for (_, zone), wanted in zones.items()}

    def read_zone(key: tuple[str, Endpoint]) -> ZoneRead:
        zone, server = key
        seen = serials.get(key, NOT_READ)
        return _read_zone(provider_of[zone], zone, server, planned[zone], seen)

    with ThreadPoolExecutor(POLL_WORKERS) as pool:
        while True:
            polling = [key for key in pending if key not in failing and pending[key]]
            answers: list[tuple[tuple[str, Endpoint], OwnerPlan, Polled]] = []
            reading = [key for key in polling if key in whole]
            for key, read in zip(reading, pool.map(read_zone, reading), strict=True):
                if read is None:
                    whole.discard(key)
                    continue
                serials[key], served = read
                if isinstance(served, Mapping):
                    for item in pending[key]:
                        held = served.get(item.owner)
                        answers.append((key, item, (_verdict(item, held), held, "NOERROR")))
            jobs = [(key, item) for key in polling if key not in whole for item in pending[key]]
            polled = list(pool.map(lambda job: _poll(job[0][1], job[1]), jobs))
            answers += [
                (key, item, answer) for (key, item), answer in zip(jobs, polled, strict=True)
            ]
            suspects: dict[tuple[Owner, RRset | None], OwnerPlan] = {}
            for key, item, (answer, held, rcode) in answers:
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
        serial = serials.get((zone, server))
        try:
            serial = dns.soa_serial(server, zone) if serial is None else serial
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
