"""Property tests of the pure rollover planner against a simulated world.

The world has a primary and lagging secondaries that serve versions of one TLSA RRset, resolvers
that may cache any version for its TTL after a server last served it, an ACME client that renews
at random moments, and tlsagen runs at random moments (which may forget their state). After every
event we check that no resolver can hold an RRset without a record of the key the server
presents, and that no deploy or retire happened before its gate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tlsagen.core.tlsa import TLSAData
from tlsagen.rollover import planner
from tlsagen.rollover.planner import Key, Memory, View

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERVERS = 3
MARGIN = 1.0


def record(n: int) -> TLSAData:
    return TLSAData(3, 1, 1, hashlib.sha256(f"key {n}".encode()).digest())


def key(n: int) -> Key:
    return Key(f"{n:064x}", f"key{n}.pem", frozenset({record(n)}))


@dataclass
class Version:
    records: frozenset[TLSAData]
    ttl: int


@dataclass
class Interval:
    """A server served `version` from `start` until `end` (None: still serving it)."""

    version: Version
    start: float
    end: float | None = None


@dataclass
class World:
    ttl: int
    deploys: bool = True  # tlsagen installs the certificate; else the ACME client makes it live
    now: float = 0.0
    presented: Key = field(default_factory=lambda: key(0))
    source: Key = field(default_factory=lambda: key(0))
    upcoming: Key | None = None  # the ACME client's standing next key (no-deploy mode)
    memory: Memory = field(default_factory=Memory)
    counter: int = 1
    live_since: float = -1e9
    served: list[list[Interval]] = field(default_factory=list)
    deploys_done: list[tuple[float, Key, int]] = field(default_factory=list)  # when, key, TTL

    def __post_init__(self) -> None:
        first = Version(frozenset({record(0)}), self.ttl)
        self.served = [[Interval(first, -1e9)] for _ in range(SERVERS)]
        if not self.deploys:
            self.upcoming = self.fresh()

    def fresh(self) -> Key:
        self.counter += 1
        return key(self.counter)

    @property
    def time(self) -> datetime:
        return T0 + timedelta(seconds=self.now)

    def current(self, server: int) -> Version:
        return self.served[server][-1].version

    def serve(self, server: int, version: Version) -> None:
        if self.current(server) != version:
            self.served[server][-1].end = self.now
            self.served[server].append(Interval(version, self.now))

    # --- events ------------------------------------------------------------------------------

    def sync(self, server: int) -> None:
        """A secondary transfers the primary's latest version."""
        self.serve(server, self.current(0))

    def renew(self) -> None:
        """The ACME client renews: a new key (deploy mode), or its next key goes live."""
        if self.deploys:
            self.source = self.fresh()
        else:
            assert self.upcoming is not None
            self.source, self.upcoming = self.upcoming, self.fresh()
            self.presented, self.live_since = self.source, self.now

    def run(self, lose_state: bool) -> None:
        if lose_state:
            self.memory = Memory()
        latest = self.current(0)
        everywhere = frozenset.intersection(*(self.current(s).records for s in range(SERVERS)))
        view = View(
            ttl=self.ttl,
            current=(self.presented,),
            live=frozenset({self.presented.id}),
            staged=self.source if self.deploys and self.source != self.presented else None,
            nexts=(self.upcoming,) if self.upcoming else (),
            held=latest.records,
            held_ttl=max(self.current(s).ttl for s in range(SERVERS)),
            served=everywhere,
            under_rollover=True,
        )
        plan = planner.plan(view, self.memory, self.time, MARGIN)
        self.memory = plan.memory
        desired = Version(frozenset(plan.records), self.ttl)
        slots = [self.presented, self.source, *([self.upcoming] if self.upcoming else [])]
        assert all(slot.records <= desired.records for slot in slots)
        if latest.records - desired.records:  # a retire: only a TTL after the switch
            assert self.now >= self.live_since + self.ttl
        if desired != latest:
            self.serve(0, desired)
        step = plan.step(planner.DEPLOY)
        if step is not None and step.gate.passed:
            assert step.key == self.source
            self.presented, self.live_since = self.source, self.now
            self.deploys_done.append((self.now, self.source, self.ttl))

    # --- properties --------------------------------------------------------------------------

    def cacheable(self) -> list[Version]:
        """Every version a resolver may hold now: served within its TTL."""
        return [
            interval.version
            for intervals in self.served
            for interval in intervals
            if interval.end is None or self.now < interval.end + interval.version.ttl
        ]

    def check_safe(self) -> None:
        for version in self.cacheable():
            held = sorted(r.data.hex()[:6] for r in version.records)
            assert self.presented.records <= version.records, (
                f"at {self.now}: a resolver may cache {held} without the live key"
            )

    def served_since(self, wanted: frozenset[TLSAData], before: float) -> float:
        """Since when every server has served `wanted` without a break, as of `before`."""
        since = -1e9
        for intervals in self.served:
            for interval in intervals:
                if interval.start <= before and not wanted <= interval.version.records:
                    since = max(since, interval.end if interval.end is not None else 1e18)
        return since

    def check_gates(self) -> None:
        for when, deployed, ttl in self.deploys_done:
            since = self.served_since(deployed.records, when)
            assert when >= since + 2 * ttl + MARGIN, (when, since)


# One tick: time passes (in half TTLs), some secondaries transfer the zone, then the ACME client
# renews or tlsagen runs (losing its state first when the last number is 0) or nothing happens.
Tick = tuple[int, int, str, int]
ticks = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.integers(0, 2 ** (SERVERS - 1) - 1),
        st.sampled_from(["run"] * 8 + ["renew", "idle"]),
        st.integers(0, 9),
    ),
    min_size=5,
    max_size=60,
)


def play(world: World, script: list[Tick], losing: bool) -> None:
    for wait, syncs, action, lose in script:
        world.now += wait * world.ttl / 2
        for server in range(1, SERVERS):
            if syncs & (1 << (server - 1)):
                world.sync(server)
        if action == "renew":
            world.renew()
        elif action == "run":
            world.run(lose_state=losing and lose == 0)
        if world.deploys:
            world.check_safe()
        world.check_gates()


@settings(max_examples=400, deadline=None)
@given(ttl=st.sampled_from([2, 5, 30]), script=ticks)
def test_staged_deploys_never_leave_the_live_key_unmatched(ttl: int, script: list[Tick]) -> None:
    play(World(ttl), script, losing=True)


@settings(max_examples=200, deadline=None)
@given(ttl=st.sampled_from([2, 30]), script=ticks)
def test_next_key_rollovers_keep_every_slot_published(ttl: int, script: list[Tick]) -> None:
    """Without deploy the ACME client decides when a key goes live; the planner still keeps
    every slot published and retires old records only a TTL after the switch (checked in run)."""
    play(World(ttl, deploys=False), script, losing=True)


@settings(max_examples=200, deadline=None)
@given(
    ttls=st.lists(st.sampled_from([2, 5, 60]), min_size=1, max_size=4),
    script=ticks,
)
def test_lowered_ttls_are_waited_out(ttls: list[int], script: list[Tick]) -> None:
    """The configured TTL changes during the run (the state is kept): caches of the old, longer
    TTL are still waited for."""
    world = World(ttls[0])
    chunks = [script[i :: len(ttls)] for i in range(len(ttls))]
    for ttl, chunk in zip(ttls, chunks, strict=True):
        world.ttl = ttl
        play(world, chunk, losing=False)
