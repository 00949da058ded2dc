"""The pure rollover planner, scenario by scenario (properties: test_rollover_properties.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tlsagen.rollover import planner
from tlsagen.rollover.planner import Key, Live, Memory, Published, View
from tlsagen.testing import record

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
OLD = Key("a" * 64, "old.pem", frozenset({record("old")}))
NEW = Key("b" * 64, "new.pem", frozenset({record("new")}))
NEXT = Key("c" * 64, "next.key", frozenset({record("next")}))
JUNK = record("junk")


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def long_ago(*keys: Key) -> Memory:
    published = {r: Published(ago(86400), 300) for k in keys for r in k.records}
    return Memory(published=published, live=Live(frozenset({OLD.id}), ago(86400)), ttl=300)


def view(**changes: object) -> View:
    base: dict[str, object] = {
        "ttl": 300,
        "current": (OLD,),
        "live": frozenset({OLD.id}),
        "held": OLD.records,
        "held_ttl": 300,
        "served": OLD.records,
        "under_rollover": True,
    }
    base.update(changes)
    return View(**base)  # type: ignore[arg-type]


def test_steady_state_has_nothing_to_do_and_keeps_its_memory() -> None:
    memory = long_ago(OLD)
    plan = planner.plan(view(), memory, NOW)
    assert plan.steps == ()
    assert set(plan.records) == OLD.records
    assert plan.memory == memory  # an idle run changes nothing, so it writes nothing


def test_a_next_key_is_published_at_once() -> None:
    plan = planner.plan(view(nexts=(NEXT,)), long_ago(OLD), NOW)
    (step,) = plan.steps
    assert step.kind == planner.PUBLISH and step.records == NEXT.records and step.gate.passed
    assert plan.records[record("next")] == "next: next.key"
    assert [s.role for s in plan.slots] == ["current", "next"]


def test_a_staged_key_waits_until_every_server_serves_it() -> None:
    plan = planner.plan(view(staged=NEW), long_ago(OLD), NOW)
    publish, deploy = plan.steps
    assert publish.kind == planner.PUBLISH and publish.records == NEW.records
    assert deploy.kind == planner.DEPLOY and deploy.key == NEW
    assert not deploy.gate.passed and deploy.gate.opens is None
    assert "not yet served by every authoritative server" in deploy.gate.reason


def test_deploy_opens_after_twice_the_ttl_plus_the_default_margin() -> None:
    held = OLD.records | NEW.records
    first = planner.plan(view(staged=NEW, held=held, served=held), long_ago(OLD), NOW)
    deploy = first.step(planner.DEPLOY)
    assert deploy is not None and not deploy.gate.passed
    assert first.memory.published[record("new")] == Published(NOW, 300)
    assert deploy.gate.opens == NOW + timedelta(seconds=600 + 60)  # 10 % of 600 s < 60 s
    later = NOW + timedelta(seconds=660)
    again = planner.plan(view(staged=NEW, held=held, served=held), first.memory, later)
    step = again.step(planner.DEPLOY)
    assert step is not None and step.gate.passed


def test_with_a_resolver_deploy_also_waits_for_dnssec_validation() -> None:
    """Served everywhere long enough, but the resolver does not validate the new record as
    secure: the gate stays closed and says why; once it does, the gate opens."""
    held = OLD.records | NEW.records
    memory = long_ago(OLD, NEW)
    why = "_25._tcp.mx1.example.test. is insecure"
    closed = view(staged=NEW, held=held, served=held, validated=OLD.records, unvalidated=why)
    step = planner.plan(closed, memory, NOW).step(planner.DEPLOY)
    assert step is not None and not step.gate.passed and step.gate.opens is None
    assert "DNSSEC-secure" in step.gate.reason and why in step.gate.reason
    opened = view(staged=NEW, held=held, served=held, validated=held)
    step = planner.plan(opened, memory, NOW).step(planner.DEPLOY)
    assert step is not None and step.gate.passed and "validates it" in step.gate.reason
    unchecked = view(staged=NEW, held=held, served=held)  # no resolver configured
    step = planner.plan(unchecked, memory, NOW).step(planner.DEPLOY)
    assert step is not None and step.gate.passed and "DNSSEC" not in step.gate.reason


def test_the_margin_is_a_tenth_of_long_waits_or_the_configured_one() -> None:
    assert planner.margin_for(3600, None) == 720
    assert planner.margin_for(2, None) == 60
    assert planner.margin_for(3600, 5) == 5


def test_a_retiring_record_stays_until_the_new_key_was_live_for_a_ttl() -> None:
    memory = long_ago(OLD, NEW)
    switched = Memory(published=memory.published, live=Live(frozenset({NEW.id}), ago(100)), ttl=300)
    held = OLD.records | NEW.records
    seen = {"current": (NEW,), "live": frozenset({NEW.id}), "held": held, "served": held}
    plan = planner.plan(view(**seen), switched, NOW)
    (retire,) = plan.steps
    assert retire.kind == planner.RETIRE and not retire.gate.passed
    assert retire.gate.opens == ago(100) + timedelta(seconds=300)
    assert plan.records[record("old")] == planner.RETIRING  # DNS keeps it meanwhile
    later = planner.plan(view(**seen), plan.memory, NOW + timedelta(seconds=200))
    step = later.step(planner.RETIRE)
    assert step is not None and step.gate.passed
    assert set(later.records) == NEW.records


def test_without_a_settled_live_key_nothing_retires() -> None:
    held = OLD.records | {JUNK}
    plan = planner.plan(view(live=None, held=held, served=held), long_ago(OLD), NOW)
    step = plan.step(planner.RETIRE)
    assert step is not None and not step.gate.passed and plan.memory.live is None
    assert "not seen presenting the same key" in step.gate.reason


def test_services_not_under_rollover_mirror_the_configuration() -> None:
    held = OLD.records | {JUNK}
    plan = planner.plan(view(under_rollover=False, held=held, served=held), Memory(), NOW)
    assert plan.steps == () and set(plan.records) == OLD.records  # JUNK goes, as before


def test_a_silent_server_keeps_clocks_but_starts_none_and_blocks_deploys() -> None:
    held = OLD.records | NEW.records
    memory = long_ago(OLD, NEW)
    plan = planner.plan(
        view(staged=NEW, held=held, served=frozenset(), silent=("192.0.2.1:53",)), memory, NOW
    )
    assert plan.memory.published == memory.published
    deploy = plan.step(planner.DEPLOY)
    assert deploy is not None and not deploy.gate.passed
    assert "no usable answer from 192.0.2.1:53" in deploy.gate.reason
    fresh = planner.plan(view(served=frozenset(), silent=("x",)), Memory(), NOW)
    assert fresh.memory.published == {}


def test_a_record_that_stops_being_served_everywhere_restarts_its_clock() -> None:
    plan = planner.plan(view(served=frozenset()), long_ago(OLD), NOW)
    assert plan.memory.published == {}


def test_a_lowered_ttl_is_remembered_until_caches_of_the_old_one_expired() -> None:
    memory = long_ago(OLD)  # the RRsets had TTL 300
    lowered = planner.plan(view(ttl=2, held_ttl=2), memory, NOW).memory
    assert (lowered.ttl, lowered.ttl_until) == (300, NOW + timedelta(seconds=300))
    held = OLD.records | NEW.records
    soon = NOW + timedelta(seconds=10)
    during = planner.plan(view(ttl=2, held_ttl=2, held=held, served=held), lowered, soon)
    assert during.memory.published[record("new")] == Published(soon, 300)
    after = planner.plan(view(ttl=2, held_ttl=2), lowered, NOW + timedelta(seconds=301))
    assert (after.memory.ttl, after.memory.ttl_until) == (2, None)


def test_an_emergency_opens_every_gate_and_says_so() -> None:
    held = OLD.records | {JUNK}
    plan = planner.plan(
        view(staged=NEW, live=None, held=held, served=held), long_ago(OLD), NOW, emergency=True
    )
    for kind in (planner.DEPLOY, planner.RETIRE):
        step = plan.step(kind)
        assert step is not None and step.gate.passed
        assert step.gate.reason.startswith("EMERGENCY")
    assert JUNK not in plan.records


def test_slots_report_what_dns_holds_and_since_when() -> None:
    memory = long_ago(OLD)
    plan = planner.plan(view(nexts=(NEXT,), held=OLD.records | {JUNK}), memory, NOW)
    current, upcoming, retiring = plan.slots
    assert (current.role, current.in_dns, current.since) == ("current", True, ago(86400))
    assert (upcoming.role, upcoming.in_dns, upcoming.since) == ("next", False, None)
    assert retiring.role == "retiring" and retiring.name == JUNK.data.hex()


def test_gates_that_wait_for_a_clock_are_not_refusals() -> None:
    """A closed gate waits (with a time when its clock has started) unless evidence says the
    step is unsafe now: that refusal is what `rollover advance` exits 6 for."""
    memory = long_ago(OLD, NEW)
    fresh = Memory(published={r: Published(ago(10), 300) for r in NEW.records}, ttl=300)
    waits = planner.deploy_gate(NEW, fresh, NOW, None)
    assert not waits.passed and not waits.refused and waits.opens is not None
    stale = planner.deploy_gate(NEW, fresh, NOW, None, (), frozenset(), "cached", False)
    assert not stale.refused and stale.opens == waits.opens  # a cache expires within 2 x TTL
    insecure = planner.deploy_gate(NEW, memory, NOW, None, (), frozenset(), "insecure", True)
    assert insecure.refused and insecure.opens is None
    silent = planner.deploy_gate(NEW, memory, NOW, None, ("192.0.2.1:53",))
    assert silent.refused and "no usable answer from 192.0.2.1:53" in silent.reason
    assert planner.retire_gate(Memory(), 300, NOW).refused
    retire = planner.retire_gate(Memory(live=Live(frozenset({NEW.id}), ago(10))), 300, NOW)
    assert not retire.refused and retire.opens == ago(10) + timedelta(seconds=300)
