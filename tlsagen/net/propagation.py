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
