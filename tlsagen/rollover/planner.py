"""The rollover planner: a service's key slots, the steps that are due, and when each gate opens.

Pure: no files, no DNS, no clock. The engine observes one service (`View`), loads what the state
file remembers of it (`Memory`) and calls `plan`, which returns the records DNS must hold, the
steps with their gates, and the memory to store. The gates (RFC 7671 §8.1, §8.4):

- deploy: every record of the new certificate has been served by every authoritative server, at
  every owner, for 2 x the largest TTL the RRsets had since it was added, plus a margin;
- retire: a record that matches no slot is removed only once the server has been seen presenting
  one key, on every address, for one TTL.

Forgetting the memory only restarts those clocks, so losing the state file only delays a step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tlsagen.core.tlsa import DEFAULT_PARAMS, TLSAData

MIN_MARGIN = 60.0  # seconds added to the deploy wait, at least ...
MARGIN_FRACTION = 0.1  # ... and at least this fraction of 2 x TTL

CURRENT, STAGED, NEXT, RETIRING = "current", "staged", "next", "retiring"
PUBLISH, DEPLOY, RETIRE = "publish", "deploy", "retire"


@dataclass(frozen=True)
class Key:
    """One key (with its certificate, if any) as the planner sees it."""

    id: str  # hex SHA-256 of the SubjectPublicKeyInfo: the data of its 3 1 1 record
    source: str  # the file it was read from
    records: frozenset[TLSAData]  # its records under the service's parameters


@dataclass(frozen=True)
class Published:
    """A record served by every authoritative server at every owner of the service."""

    since: datetime  # first seen so
    ttl: int  # the largest TTL the service's RRsets had from just before it was added until now


@dataclass(frozen=True)
class Live:
    """The key(s) the server presents on every address, and since when it was seen doing so."""

    keys: frozenset[str]  # the key ids (two for a server with RSA and ECDSA keys)
    since: datetime


@dataclass(frozen=True)
class Memory:
    """What the state file remembers of one service."""

    started: bool = False  # `rollover start` or a renewal hook put the service under rollover
    published: Mapping[TLSAData, Published] = field(default_factory=dict)
    live: Live | None = None
    ttl: int | None = None  # the largest TTL of its RRsets that resolvers may still cache ...
    ttl_until: datetime | None = None  # ... until then, when it was lowered (None: still in use)


@dataclass(frozen=True)
class View:
    """What a run observed of one service."""

    ttl: int  # the configured TTL
    current: tuple[Key, ...]  # every key the server presents or may present right now
    live: frozenset[str] | None  # ids of the keys every address presents (None: not settled)
    presented: tuple[Key, ...] = ()  # keys a probe saw: their records are kept, never added
    staged: Key | None = None  # a renewed certificate waiting to be deployed
    nexts: tuple[Key, ...] = ()
    held: frozenset[TLSAData] = frozenset()  # records DNS holds, at any owner
    held_ttl: int | None = None  # the largest TTL DNS holds or any server serves
    served: frozenset[TLSAData] = frozenset()  # records every server serves at every owner
    silent: tuple[str, ...] = ()  # authoritative servers that did not answer (or with an error)
    under_rollover: bool = False  # records of former keys are retired (engine.under_rollover)
    # records the configured resolver validates as DNSSEC-secure at every owner, and why others
    # are not (None: no resolver configured, or nothing staged to deploy)
    validated: frozenset[TLSAData] | None = None
    unvalidated: str = ""
    insecure: bool = False  # the resolver did not answer an owner as secure (not merely stale)


@dataclass(frozen=True)
class Gate:
    """Whether a step may be taken now. A closed gate either waits (for its clock, or for an
    observation to start it) or is refused: evidence says the step is unsafe now, and waiting
    alone will not open it."""

    passed: bool
    opens: datetime | None  # None: it cannot open until an observation starts its clock
    reason: str  # what it waits for, or why it is open or refused
    refused: bool = False


@dataclass(frozen=True)
class Step:
    kind: str  # PUBLISH, DEPLOY or RETIRE
    records: frozenset[TLSAData]  # added (publish), the certificate's (deploy), removed (retire)
    gate: Gate
    key: Key | None = None  # the key a deploy installs


@dataclass(frozen=True)
class Slot:
    role: str  # CURRENT, STAGED, NEXT or RETIRING
    name: str  # the key id, or for a retiring record that matches no known key its text
    source: str
    records: frozenset[TLSAData]
    in_dns: bool  # DNS holds every record
    since: datetime | None  # every record served everywhere since (None: not all are)


@dataclass(frozen=True)
class Rollover:
    """The plan for one service."""

    records: Mapping[TLSAData, str]  # what DNS must hold, each with why ("next: FILE")
    slots: tuple[Slot, ...]
    steps: tuple[Step, ...]
    memory: Memory

    def step(self, kind: str) -> Step | None:
        return next((s for s in self.steps if s.kind == kind), None)


OPEN = Gate(True, None, "no gate")


def margin_for(ttl: int, margin: float | None) -> float:
    """The margin added to a 2 x TTL wait: the configured one, else 10 % and at least 60 s."""
    if margin is not None:
        return margin
    return max(MIN_MARGIN, MARGIN_FRACTION * 2 * ttl)


def observe(memory: Memory, view: View, now: datetime) -> Memory:
    """The memory after this observation: publication and live clocks kept, started or dropped.

    When a server did not answer nothing new is learnt: clocks of records DNS still holds are
    kept, and none is started.
    """
    ttl = max(view.ttl, view.held_ttl or 0)
    largest, until = _largest_ttl(memory, ttl, now)
    published = {}
    for record in view.held if view.silent else view.served:
        seen = memory.published.get(record)
        if seen is not None:
            published[record] = Published(seen.since, max(seen.ttl, ttl))
        elif not view.silent:
            published[record] = Published(now, largest)
    live = None
    if view.live:
        kept = memory.live is not None and memory.live.keys == view.live
        live = memory.live if kept else Live(view.live, now)
    return Memory(memory.started, published, live, largest, until)


def _largest_ttl(memory: Memory, ttl: int, now: datetime) -> tuple[int, datetime | None]:
    """The largest TTL resolvers may still cache, and until when when it is not the current one.

    A lowered TTL is remembered for the old TTL from the observation that saw it lowered.
    """
    if memory.ttl is None or memory.ttl <= ttl:
        return ttl, None
    if memory.ttl_until is None:
        return memory.ttl, now + timedelta(seconds=memory.ttl)
    if now < memory.ttl_until:
        return memory.ttl, memory.ttl_until
    return ttl, None


def deploy_gate(
    key: Key,
    memory: Memory,
    now: datetime,
    margin: float | None,
    silent: tuple[str, ...] = (),
    validated: frozenset[TLSAData] | None = None,
    unvalidated: str = "",
    insecure: bool = False,
) -> Gate:
    """Open once every record of `key` has been served everywhere for 2 x TTL + margin and,
    when a resolver is configured (`validated` is not None), validates as DNSSEC-secure.

    Refused while a server does not answer, or the resolver answers an owner as other than
    secure (`insecure`); a resolver that is merely still caching an older RRset is waited for.
    """
    if silent:
        return Gate(
            False,
            None,
            f"no usable answer from {', '.join(silent)}; every server must confirm",
            True,
        )
    opens: list[datetime] = []
    for record in sorted(key.records):
        seen = memory.published.get(record)
        if seen is None:
            return Gate(
                False,
                None,
                f"{record.to_text()[:22]}… is not yet served by every authoritative server "
                "at every owner",
            )
        wait = 2 * seen.ttl + margin_for(seen.ttl, margin)
        opens.append(seen.since + timedelta(seconds=wait))
    latest = max(opens)
    if validated is not None and not key.records <= validated:
        record = min(key.records - validated)
        return Gate(
            False,
            None if insecure or latest <= now else latest,  # a cache expires within 2 x TTL
            f"the resolver does not validate {record.to_text()[:22]}… as DNSSEC-secure at every "
            f"owner ({unvalidated}); senders would not trust it",
            insecure,
        )
    first = min(memory.published[r].since for r in key.records)
    reason = (
        f"served everywhere since {first:%Y-%m-%d %H:%M:%S} UTC; deploy waits 2 x TTL "
        f"({max(memory.published[r].ttl for r in key.records)} s) plus the margin"
    )
    if validated is not None:
        reason += "; the resolver validates it as DNSSEC-secure"
    return Gate(now >= latest, latest, reason)


def retire_gate(memory: Memory, ttl: int, now: datetime) -> Gate:
    """Open once the server has presented the same key(s) on every address for one TTL."""
    if memory.live is None:
        return Gate(
            False,
            None,
            "the server is not seen presenting the same key on every address "
            "(a probe failed, the addresses differ, or a reload is pending)",
            True,
        )
    opens = memory.live.since + timedelta(seconds=ttl)
    keys = ", ".join(f"{key[:16]}…" for key in sorted(memory.live.keys))
    reason = (
        f"the server presents {keys} since {memory.live.since:%Y-%m-%d %H:%M:%S} UTC; "
        f"retiring waits one TTL ({ttl} s)"
    )
    return Gate(now >= opens, opens, reason)


def _emergency(gate: Gate) -> Gate:
    if gate.passed:
        return gate
    return Gate(True, gate.opens, f"EMERGENCY: not waiting ({gate.reason})")


def plan(
    view: View,
    memory: Memory,
    now: datetime,
    margin: float | None = None,
    emergency: bool = False,
) -> Rollover:
    """The records DNS must hold, the steps due (each with its gate), and the memory to keep."""
    memory = observe(memory, view, now)
    records: dict[TLSAData, str] = {}
    slots: list[tuple[str, Key]] = [(CURRENT, key) for key in view.current]
    if view.staged is not None:
        slots.append((STAGED, view.staged))
    slots += [(NEXT, key) for key in view.nexts]
    for role, key in slots:
        for record in key.records:
            records.setdefault(record, f"{role}: {key.source}")
    for key in view.presented:
        for record in key.records & view.held:
            records.setdefault(record, f"{CURRENT}: presented by the server ({key.source})")
    steps = []
    added = frozenset(records) - view.held
    if added:
        steps.append(Step(PUBLISH, added, OPEN))
    leftover = view.held - frozenset(records)
    if leftover and view.under_rollover:
        gate = retire_gate(memory, max(view.ttl, view.held_ttl or 0), now)
        gate = _emergency(gate) if emergency else gate
        steps.append(Step(RETIRE, leftover, gate))
        if not gate.passed:
            records.update(dict.fromkeys(leftover, RETIRING))
    if view.staged is not None:
        gate = deploy_gate(
            view.staged,
            memory,
            now,
            margin,
            view.silent,
            view.validated,
            view.unvalidated,
            view.insecure,
        )
        gate = _emergency(gate) if emergency else gate
        steps.append(Step(DEPLOY, view.staged.records, gate, view.staged))
    return Rollover(records, _slots(slots, leftover, view, memory), tuple(steps), memory)


def _since(records: frozenset[TLSAData], memory: Memory) -> datetime | None:
    seen = [memory.published.get(r) for r in records]
    if not seen or any(s is None for s in seen):
        return None
    return max(s.since for s in seen if s is not None)


def _slots(
    slots: list[tuple[str, Key]], leftover: frozenset[TLSAData], view: View, memory: Memory
) -> tuple[Slot, ...]:
    found = [
        Slot(
            role,
            key.id,
            key.source,
            key.records,
            key.records <= view.held,
            _since(key.records, memory),
        )
        for role, key in slots
    ]
    for record in sorted(leftover):
        name = record.data.hex() if record.params == DEFAULT_PARAMS else record.to_text()
        only = frozenset({record})
        found.append(Slot(RETIRING, name, "DNS", only, True, _since(only, memory)))
    return tuple(found)
