"""The engine's planning and gates, on the in-memory provider (pure logic, no servers)."""

from __future__ import annotations

import dataclasses
import subprocess
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tlsagen import config, engine, plans, registry
from tlsagen.core import material
from tlsagen.core.records import ChangeSet, Owner, RRset, rrset
from tlsagen.core.tlsa import Params, TLSAData, compute
from tlsagen.errors import ConflictError, InputError, ProviderError, UnsafeError
from tlsagen.net import dns
from tlsagen.plans import RunResult
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen.testing import MemoryProvider, record

EXAMPLE = Path(__file__).parents[1] / "docs/examples/mx.example.com"
NOW = datetime(2026, 11, 28, tzinfo=UTC)
MX1 = Owner("_25._tcp.mx1.example.test.")


@pytest.fixture(scope="module")
def next_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "next.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def load(tmp_path: Path, params: str = '"3 1 1"', next_key: Path | None = None) -> config.Config:
    extra = f'next-key = "{next_key}"\n' if next_key else ""
    text = (
        f"[defaults]\nttl = 300\nparams = [{params}]\n"
        "[providers.mem]\ntype = 'memory'\n"
        "[[services]]\nname = 'mail'\nhosts = ['mx1.example.test', 'mx2.example.test']\n"
        f"cert = '{EXAMPLE / 'fullchain.pem'}'\n{extra}"
    )
    (tmp_path / "tlsagen.toml").write_text(text)
    return config.load(tmp_path / "tlsagen.toml")


def current_record(params: str = "3 1 1") -> TLSAData:
    return compute(material.read_source(str(EXAMPLE / "fullchain.pem")), Params.parse(params))


def test_first_plan_creates_current_and_next(tmp_path: Path, next_key: Path) -> None:
    provider = MemoryProvider()
    plan = engine.make_plan(load(tmp_path, next_key=next_key), {"mem": provider}, NOW)
    assert [o.owner.name for o in plan.pending] == [
        "_25._tcp.mx1.example.test.",
        "_25._tcp.mx2.example.test.",
    ]
    first = plan.pending[0]
    assert current_record() in first.desired.records
    assert len(first.desired.records) == 2
    assert sorted(first.roles.values())[0].startswith("current: ")
    assert any(role.startswith("next: ") for role in first.roles.values())


def test_publish_then_nothing_to_do(tmp_path: Path) -> None:
    provider = MemoryProvider()
    loaded = load(tmp_path)
    plan = engine.make_plan(loaded, {"mem": provider}, NOW)
    assert engine.apply(plan, {"mem": provider}) == [("mem", "example.test.")]
    assert len(provider.applied) == 1 and len(provider.applied[0].changes) == 2
    again = engine.make_plan(loaded, {"mem": provider}, NOW)
    assert again.pending == ()
    assert engine.apply(again, {"mem": provider}) == []
    assert len(provider.applied) == 1  # the second run sent nothing


def test_changing_params_keeps_the_live_key_covered(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.data[MX1] = rrset(MX1, 300, [current_record("3 1 1"), record("old key")])
    # The operator switches params to 3 1 2 only: the live key's 3 1 2 record covers it.
    plan = engine.make_plan(load(tmp_path, '"3 1 2"'), {"mem": provider}, NOW)
    assert all(o.unsafe is None for o in plan.owners)
    engine.apply(plan, {"mem": provider})
    assert provider.data[MX1].records == {current_record("3 1 2")}


def test_removing_the_last_record_of_a_live_key_is_refused(tmp_path: Path) -> None:
    live = material.read_source(str(EXAMPLE / "fullchain.pem"))
    current = rrset(MX1, 300, [current_record("3 0 1"), record("old key")])
    uncovered = rrset(MX1, 300, [record("old key")])
    reason = engine._unsafe_reason(current, uncovered, [live])
    assert reason is not None and "3 0 1" in reason and "configured as current" in reason
    covered = rrset(MX1, 300, [current_record("3 1 1")])
    assert engine._unsafe_reason(current, covered, [live]) is None
    provider = MemoryProvider()
    provider.data[MX1] = current
    safe = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    (item,) = [o for o in safe.pending if o.owner == MX1]
    refused = dataclasses.replace(item, desired=uncovered, unsafe=reason)
    plan = engine.Plan((*[o for o in safe.owners if o.owner != MX1], refused), ())
    with pytest.raises(UnsafeError) as caught:
        engine.apply(plan, {"mem": provider})
    assert caught.value.exit_code == 6
    assert provider.applied == []  # nothing at all was applied, not even the safe owner


def test_removing_a_stale_record_is_allowed(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.data[MX1] = rrset(MX1, 300, [current_record(), record("retired key")])
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    assert all(o.unsafe is None for o in plan.owners)
    engine.apply(plan, {"mem": provider})
    assert provider.data[MX1].records == {current_record()}


def test_concurrent_change_between_plan_and_apply(tmp_path: Path) -> None:
    provider = MemoryProvider()
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    provider.data[MX1] = rrset(MX1, 300, [record("someone else")])
    with pytest.raises(ConflictError):
        engine.apply(plan, {"mem": provider})
    assert provider.data[MX1].records == {record("someone else")}


def test_ttl_change_is_a_change(tmp_path: Path) -> None:
    provider = MemoryProvider()
    provider.data[MX1] = rrset(MX1, 3600, [current_record()])
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    (item,) = [o for o in plan.pending if o.owner == MX1]
    change = item.change
    assert change is not None and change.added == frozenset() and change.removed == frozenset()


def test_wait_without_servers_reports_nothing(tmp_path: Path) -> None:
    provider = MemoryProvider()
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    assert engine.wait_for_servers(plan, {"mem": provider}, timeout=1) == []


def test_lints_reach_the_plan(tmp_path: Path) -> None:
    plan = engine.make_plan(load(tmp_path, '"1 1 1"'), {"mem": MemoryProvider()}, NOW)
    assert any("unusable for SMTP" in w for w in plan.warnings)


class ServedProvider(MemoryProvider):
    """The memory provider with one authoritative server to poll, whose answers the test sets;
    it counts its reads."""

    reads = 0

    def servers(self, zone: str) -> tuple[Endpoint, ...]:
        return (Endpoint("192.0.2.1", 53),)

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        self.reads += 1
        return super().read(zone, owners)


def serve(
    monkeypatch: pytest.MonkeyPatch, answers: list[dict[Owner, RRset]]
) -> tuple[list[float], Callable[[float], None]]:
    """Make the server answer each poll round from `answers` in turn (the last one repeated);
    the pauses between rounds, and the sleep that records them."""
    pauses: list[float] = []

    def tlsa_answer(server: Endpoint, owner: Owner) -> tuple[RRset | None, str]:
        return answers[min(len(pauses), len(answers) - 1)].get(owner), "NOERROR"

    monkeypatch.setattr(dns, "tlsa_answer", tlsa_answer)
    return pauses, pauses.append


def test_a_server_lagging_further_behind_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secondary still serving an RRset older than the one read is no conflict while the
    provider holds the plan: the wait goes on until it serves the plan, and the provider is
    asked once about that answer, not at every round."""
    provider = ServedProvider()
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    older = {o.owner: rrset(o.owner, 300, [record("older")]) for o in plan.owners}
    pauses, sleep = serve(monkeypatch, [older, older, older, dict(provider.data)])
    provider.reads = 0
    reports = engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=sleep)
    assert len(pauses) == 3 and not any(r.missing for r in reports)
    assert provider.reads == 1


def test_records_replaced_after_publishing_is_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ServedProvider()
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    provider.data[MX1] = rrset(MX1, 300, [record("someone else")])
    pauses, sleep = serve(monkeypatch, [dict(provider.data)])
    with pytest.raises(ConflictError, match=f"another writer changed {MX1} TLSA"):
        engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=sleep)
    assert pauses == []  # found on the first round, not after the timeout


class ConfirmingProvider(ServedProvider):
    """A provider whose own read after `apply` showed the server serving the change."""

    def servers(self, zone: str) -> tuple[Endpoint, ...]:
        return (Endpoint("192.0.2.1", 53), Endpoint("192.0.2.2", 53))

    def confirmed(self, zone: str) -> Endpoint | None:
        return Endpoint("192.0.2.1", 53)


def test_a_server_is_asked_about_an_owner_until_it_serves_it_and_not_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server the provider confirmed the change at is not polled at all; another is asked
    about each owner until it serves it, never again after."""
    provider = ConfirmingProvider()
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    first = plan.owners[0].owner
    asked: list[tuple[Endpoint, Owner]] = []
    rounds = 0

    def tlsa_answer(server: Endpoint, owner: Owner) -> tuple[RRset | None, str]:
        asked.append((server, owner))
        served = owner == first or rounds > 0  # the first owner at once, the other later
        return (provider.data[owner] if served else None), "NOERROR"

    def sleep(seconds: float) -> None:
        nonlocal rounds
        rounds += 1

    monkeypatch.setattr(dns, "tlsa_answer", tlsa_answer)
    monkeypatch.setattr(dns, "soa_serial", lambda server, zone: 7)
    reports = engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=sleep)
    assert all(report.state == plans.SERVING for report in reports) and len(reports) == 2
    secondary, second = Endpoint("192.0.2.2", 53), plan.owners[1].owner
    assert Counter(asked) == Counter({(secondary, first): 1, (secondary, second): 2})


class WholeZoneProvider(ServedProvider):
    """A provider that reads its server's whole zone (as rfc2136 does by a transfer): each
    read answers the next of `answers` (the last one repeated); None: it cannot read so."""

    def __init__(self, answers: list[dict[Owner, RRset] | None]) -> None:
        super().__init__()
        self.answers = answers
        self.whole_reads = 0

    def served(
        self, zone: str, server: Endpoint, owners: Collection[Owner]
    ) -> Mapping[Owner, RRset] | None:
        self.whole_reads += 1
        found = self.answers[min(self.whole_reads, len(self.answers)) - 1]
        return None if found is None else {o: found[o] for o in owners if o in found}


def test_a_server_read_whole_is_read_again_only_when_its_serial_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No owner is asked about; the zone is read at once (no serial asked), then with the serial
    it has (5), then not while the serial stays, and again once it moved (6); the report
    carries the serial polled last."""
    provider = WholeZoneProvider([])
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    provider.answers = [{}, {}, dict(provider.data)]
    serials = iter([5, 5, 6])
    monkeypatch.setattr(dns, "soa_serial", lambda server, zone: next(serials))
    pauses, sleep = serve(monkeypatch, [])
    monkeypatch.setattr(dns, "tlsa_answer", lambda server, owner: pytest.fail("asked an owner"))
    reports = engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=sleep)
    assert len(pauses) == 3 and provider.whole_reads == 3
    assert [(r.state, r.serial) for r in reports] == [(plans.SERVING, 6)]


def test_a_server_that_cannot_be_read_whole_is_asked_about_each_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider cannot read the zone whole (the server refuses a transfer): no serial is
    asked before that, and each owner is asked about instead, until it is served."""
    provider = WholeZoneProvider([None])
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    pauses, sleep = serve(monkeypatch, [{}, dict(provider.data)])
    asked_serial: list[Endpoint] = []
    monkeypatch.setattr(dns, "soa_serial", lambda server, zone: asked_serial.append(server) or 7)
    reports = engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=sleep)
    assert provider.whole_reads == 1 and len(pauses) == 1
    assert len(asked_serial) == 1  # for the report only
    assert [r.state for r in reports] == [plans.SERVING]


def test_another_writer_seen_in_a_zone_read_whole_is_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = WholeZoneProvider([])
    plan = engine.make_plan(load(tmp_path), {"mem": provider}, NOW)
    engine.apply(plan, {"mem": provider})
    provider.data[MX1] = rrset(MX1, 300, [record("someone else")])
    provider.answers = [dict(provider.data)]
    with pytest.raises(ConflictError, match=f"another writer changed {MX1} TLSA"):
        engine.wait_for_servers(plan, {"mem": provider}, timeout=60, sleep=lambda s: None)


class Refusing(MemoryProvider):
    """A provider whose writes fail (after a first one went through, in these tests)."""

    def apply(self, changes: ChangeSet) -> None:
        raise ProviderError("the server refused the UPDATE")


def test_a_failure_in_a_later_pass_names_each_zone_once(tmp_path: Path) -> None:
    """A zone updated in an earlier pass is listed once; the change of the failing pass that
    was left is named too."""
    loaded = load(tmp_path)
    plan = engine.make_plan(loaded, {"mem": MemoryProvider()}, NOW)
    result = RunResult(plan, plan)
    engine._apply_pass(plan, {"mem": MemoryProvider()}, result)
    engine._apply_pass(plan, {"mem": MemoryProvider()}, result)  # a later pass, same zone
    assert result.applied == [("mem", "example.test.")]
    with pytest.raises(ProviderError) as caught:
        engine._apply_pass(plan, {"mem": Refusing()}, result)
    assert str(engine._after_applying(caught.value, result)) == (
        "the server refused the UPDATE (zones already updated: example.test.; not updated: "
        "example.test.; run the command again to finish)"
    )


def test_a_failure_after_a_deploy_only_names_the_deploy(tmp_path: Path) -> None:
    plan = engine.make_plan(load(tmp_path), {"mem": MemoryProvider()}, NOW)
    result = RunResult(plan, plan, deployed=["mail"])
    error = engine._after_applying(ProviderError("no answer"), result)
    assert str(error) == "no answer (deployed: service(s) mail; run the command again to finish)"


def test_a_provider_without_the_whole_api_is_refused_before_any_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider distribution built for an older tlsagen (no `confirmed`, no `served`) is
    refused when it is created, not when the wait first calls it after a change."""

    class Older:
        def zones(self, owners: object) -> None: ...
        def read(self, zone: str, owners: object) -> None: ...
        def apply(self, changes: object) -> None: ...
        def servers(self, zone: str) -> None: ...

    monkeypatch.setattr(registry, "load", lambda kind: lambda settings: Older())
    settings = ProviderSettings("dns", {}, "tlsagen.toml [providers.dns]", Path("."))
    with pytest.raises(
        InputError, match=r"\[providers.dns\]: provider type 'old' lacks confirmed, served"
    ):
        registry.create("old", settings)


def test_every_method_of_the_protocol_is_required() -> None:
    assert registry.METHODS == ("zones", "read", "apply", "servers", "confirmed", "served")
