"""The rollover as the engine runs it (state file, deploy files, reload command), on the in-memory
provider with an injected clock; then a crash after each step, and a re-run that converges."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.testbed.acme import CertDir, LocalCA, new_key, recording_reload, reloads
from tests.testbed.lab import BIND_ZONE, BOGUS_ZONE, UNSIGNED_ZONE
from tests.testbed.model import DnsLab
from tlsagen import config, engine, files
from tlsagen.core import material
from tlsagen.core.records import Owner, rrset
from tlsagen.core.tlsa import Params, compute
from tlsagen.errors import DeployError
from tlsagen.plans import RunResult
from tlsagen.rollover import deploy, state
from tlsagen.testing import MemoryProvider, record

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TTL = 60
MARGIN = 5
GATE = 2 * TTL + MARGIN
OWNER = Owner("_25._tcp.mx1.example.test.")


class Crash(BaseException):
    """The process dies here (not an error tlsagen could catch)."""


def tlsa(path: Path) -> str:
    return compute(material.read_source(str(path)), Params(3, 1, 1)).to_text()


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Site:
    """One service: an ACME client's files, tlsagen's deploy paths, DNS in memory."""

    dir: Path
    layout: str = "certbot"
    deploys: bool = True
    reload_status: int = 0
    host: str = "mx1.example.test"
    resolver: str | None = None  # [defaults] resolver
    provider: MemoryProvider = field(default_factory=MemoryProvider)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self.acme = CertDir(self.dir / "acme", "mx1.example.test", self.layout, LocalCA())
        self.server = self.dir / "server"
        self.log = self.dir / "reloads.log"

    @property
    def state_path(self) -> Path:
        return self.dir / "state" / "state.json"

    def load(self) -> config.Config:
        source = self.acme.dir if self.layout != "acme.sh" else self.acme.fullchain
        reload = json.dumps(recording_reload(self.log, self.reload_status))
        deploy_table = (
            f'deploy = {{ cert = "{self.server / "fullchain.pem"}", '
            f'key = "{self.server / "key.pem"}", reload = {reload} }}\n'
            if self.deploys
            else ""
        )
        path = self.dir / "tlsagen.toml"
        resolver = f'resolver = "{self.resolver}"\n' if self.resolver else ""
        path.write_text(
            f'[defaults]\nttl = {TTL}\nmargin = {MARGIN}\nstate = "{self.state_path}"\n{resolver}'
            "[providers.mem]\ntype = 'memory'\n"
            f"[[services]]\nname = 'mail'\nhosts = ['{self.host}']\n"
            f"cert = '{source}'\nprobe = false\n{deploy_table}"
        )
        return config.load(path)

    def advance(self, **options: object) -> RunResult:
        return engine.advance(
            self.load(),
            {"mem": self.provider},
            clock=self.clock,
            **options,  # type: ignore[arg-type]
        )

    def dns(self) -> set[str]:
        held = self.provider.data.get(OWNER)
        return set(held.texts()) if held else set()

    def installed(self) -> str | None:
        cert = self.server / "fullchain.pem"
        return tlsa(cert) if cert.exists() else None

    def assert_safe(self) -> None:
        """What the server reads is published (the live key always has its record)."""
        live = self.installed()
        if live is not None:
            assert live in self.dns()
        leftovers = (
            [p.name for p in self.server.glob("*.tlsagen-*")] if self.server.exists() else []
        )
        assert leftovers == [] or deploy.installed(self.site_deploy()).pending

    def site_deploy(self) -> config.Deploy:
        (service,) = self.load().services
        assert service.deploy is not None
        return service.deploy


@pytest.fixture
def site(tmp_path: Path) -> Site:
    found = Site(tmp_path)
    found.acme.issue(new_key())
    return found


def settle(site: Site) -> RunResult:
    """The first install, once the current key has been published long enough."""
    site.advance()
    site.clock.wait(GATE)
    return site.advance()


def test_staged_renewal_is_published_then_deployed_after_the_gate_then_retired(
    site: Site,
) -> None:
    first = site.advance()
    assert site.installed() is None and site.dns() == {tlsa(site.acme.fullchain)}
    assert first.refused() == []
    (waiting,) = first.waiting()
    assert waiting[1].kind == "deploy" and "2 x TTL" in waiting[1].gate.reason
    site.clock.wait(GATE - 1)
    assert site.advance().deployed == []
    site.clock.wait(1)
    assert site.advance().deployed == ["mail"]
    old = tlsa(site.acme.fullchain)
    assert site.installed() == old and reloads(site.log) == 1
    assert stat.S_IMODE((site.server / "key.pem").stat().st_mode) == 0o600

    site.acme.issue(new_key())  # certbot renews with a new key
    new = tlsa(site.acme.fullchain)
    result = site.advance()
    assert site.dns() == {old, new} and site.installed() == old and result.deployed == []
    (waiting,) = result.waiting()
    assert waiting[1].gate.opens == site.clock.now + timedelta(seconds=GATE)
    site.clock.wait(GATE)
    result = site.advance()
    assert result.deployed == ["mail"] and site.installed() == new and reloads(site.log) == 2
    assert site.dns() == {old, new}  # the old key retires one TTL after the switch
    (waiting,) = result.waiting()
    assert waiting[1].kind == "retire"
    site.clock.wait(TTL)
    result = site.advance()
    assert site.dns() == {new} and result.waiting() == result.refused() == []
    site.assert_safe()


@pytest.mark.parametrize(
    ("zone", "status"), [(UNSIGNED_ZONE, "insecure"), (BOGUS_ZONE, "bogus"), (BIND_ZONE, "")]
)
def test_with_a_resolver_a_deploy_waits_until_the_records_validate(
    tmp_path: Path, dns_lab: DnsLab, zone: str, status: str
) -> None:
    """The real Unbound of the lab is the configured resolver. In an unsigned zone, or one whose
    signatures do not validate, the staged key is published but never deployed; in the signed
    zone the resolver does not serve what only the in-memory provider holds, so it waits too.
    Insecure or bogus answers refuse the deploy; one the resolver may still cache is waited for."""
    host = "mx1." + zone.rstrip(".")
    site = Site(tmp_path, host=host, resolver=dns_lab.resolver.address())
    site.acme.issue(new_key())
    site.advance()
    site.clock.wait(GATE)
    result = site.advance()
    assert result.deployed == [] and site.installed() is None
    (closed,) = result.refused() if status else result.waiting()
    reason = closed[1].gate.reason
    assert closed[1].kind == "deploy" and "as DNSSEC-secure at every owner" in reason
    assert f"_25._tcp.{host}. is {status}" in reason if status else "does not serve" in reason


def test_an_idle_run_changes_nothing(site: Site) -> None:
    settle(site)
    site.clock.wait(TTL)
    site.advance()
    written = site.state_path.stat().st_mtime_ns
    applied = len(site.provider.applied)
    result = site.advance()
    assert result.applied == [] and result.deployed == [] and result.waiting() == []
    assert site.state_path.stat().st_mtime_ns == written
    assert len(site.provider.applied) == applied and reloads(site.log) == 1


def test_a_failed_reload_restores_the_files_and_retires_nothing(site: Site) -> None:
    settle(site)
    old = site.installed()
    site.acme.issue(new_key())
    site.advance()
    site.clock.wait(GATE)
    site.reload_status = 1
    with pytest.raises(DeployError, match=r"exited with status 1.*previous files are back"):
        site.advance()
    assert site.installed() == old
    assert sorted(p.name for p in site.server.iterdir()) == ["fullchain.pem", "key.pem"]
    assert len(site.dns()) == 2
    site.clock.wait(TTL * 5)
    site.reload_status = 0
    result = site.advance()
    assert result.deployed == ["mail"] and len(site.dns()) == 2  # and the old one waits its TTL


def test_state_lost_only_delays(site: Site) -> None:
    settle(site)
    site.acme.issue(new_key())
    site.advance()
    site.clock.wait(GATE - 10)
    site.state_path.unlink()
    assert site.advance().deployed == []  # the clock started again
    site.clock.wait(GATE - 1)
    assert site.advance().deployed == []
    site.clock.wait(1)
    assert site.advance().deployed == ["mail"]
    site.assert_safe()


def test_emergency_publishes_deploys_and_retires_in_one_run(site: Site) -> None:
    settle(site)
    site.acme.issue(new_key())
    new = tlsa(site.acme.fullchain)
    result = site.advance(emergency=True)
    assert result.deployed == ["mail"] and site.installed() == new and site.dns() == {new}


def test_a_renewal_with_the_same_key_deploys_at_once(site: Site) -> None:
    settle(site)
    site.acme.reissue()  # certbot with reuse_key: a new certificate for the same key
    result = site.advance()
    assert result.deployed == ["mail"] and reloads(site.log) == 2


# --- crashes ------------------------------------------------------------------------------------


def crash_after_publish(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    real = site.provider.apply

    def apply_then_die(changes: object) -> None:
        real(changes)  # type: ignore[arg-type]
        raise Crash

    monkeypatch.setattr(site.provider, "apply", apply_then_die)


def crash_before_reload(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def die(target: object) -> None:
        raise Crash

    monkeypatch.setattr(deploy, "reload", die)


def crash_after_reload(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def die(target: object) -> None:
        raise Crash

    monkeypatch.setattr(deploy, "_finish", die)


def crash_between_key_and_cert(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    real = files.write_atomic

    def write(path: Path, data: bytes, mode: int, owner_of: Path | None = None) -> None:
        if path.name == "fullchain.pem" and path.parent == site.server:
            raise Crash
        real(path, data, mode, owner_of)

    monkeypatch.setattr(deploy, "write_atomic", write)


def crash_before_the_state_is_written(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def die(path: Path, memories: object) -> None:
        raise Crash

    monkeypatch.setattr(state, "save", die)


# (where it crashes, when: 0 = in the run that publishes the renewed key, GATE = in the deploy)
CRASHES = [
    (crash_after_publish, 0),
    (crash_before_the_state_is_written, 0),
    (crash_before_reload, GATE),
    (crash_after_reload, GATE),
    (crash_between_key_and_cert, GATE),
    (crash_before_the_state_is_written, GATE),
]


@pytest.fixture
def renewed(site: Site) -> Iterator[Site]:
    """Deployed, then renewed with a new key."""
    settle(site)
    site.clock.wait(TTL)
    site.advance()
    site.acme.issue(new_key())
    yield site


@pytest.mark.parametrize(
    ("crash", "moment"), CRASHES, ids=[f"{f.__name__}-{m}" for f, m in CRASHES]
)
def test_a_crash_at_any_step_and_a_re_run_converge_safely(
    renewed: Site, crash: object, moment: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = renewed
    old, new = site.installed(), tlsa(site.acme.fullchain)
    published = site.clock.now
    if moment:  # publish first, crash at the deploy
        site.advance()
        site.clock.wait(moment)
    crashed = False
    with monkeypatch.context() as patched:
        crash(site, patched)  # type: ignore[operator]
        try:
            site.advance()
        except Crash:
            crashed = True
    assert crashed
    assert site.installed() in (old, new)
    deployed_at = None
    for _ in range(6):  # the timer keeps running
        site.clock.wait(TTL)
        result = site.advance()
        site.assert_safe()
        if result.deployed and deployed_at is None:
            deployed_at = site.clock.now
    assert deployed_at is None or deployed_at >= published + timedelta(seconds=GATE)
    assert site.installed() == new and site.dns() == {new}
    assert not deploy.installed(site.site_deploy()).pending
    assert sorted(p.name for p in site.server.iterdir()) == ["fullchain.pem", "key.pem"]


@pytest.mark.parametrize("layout", ["dehydrated", "acme.sh"])
def test_a_standing_next_key_is_published_and_retired_without_deploy(
    tmp_path: Path, layout: str
) -> None:
    site = Site(tmp_path, layout=layout, deploys=False)
    site.acme.issue(new_key())
    site.acme.prepare_next()
    current, upcoming = tlsa(site.acme.fullchain), tlsa(site.acme.next_key)
    with state.locked(site.state_path) as held:
        engine.put_under_rollover(held, ["mail"])
    site.advance()
    assert site.dns() == {current, upcoming}
    site.clock.wait(GATE)
    site.acme.roll()  # the client's renewal swaps the next key in and makes a fresh one
    after = tlsa(site.acme.next_key)
    site.advance()
    assert site.dns() == {current, upcoming, after}  # the old one retires a TTL later
    site.clock.wait(TTL)
    site.advance()
    assert site.dns() == {upcoming, after}


def test_unmanaged_services_keep_the_old_behaviour(tmp_path: Path) -> None:
    site = Site(tmp_path, deploys=False)
    site.acme.issue(new_key())
    site.provider.data[OWNER] = rrset(OWNER, TTL, [record("stale")])
    site.advance()
    assert site.dns() == {tlsa(site.acme.fullchain)}
    assert not site.state_path.exists()


def test_publish_recovers_an_interrupted_deploy_first(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish is one pass of advance that deploys nothing; it still rolls back a deploy a
    crash left half done before it reads what the server presents."""
    settle(site)
    first = site.installed()
    site.acme.issue(new_key())
    site.advance()
    site.clock.wait(GATE)
    with monkeypatch.context() as patched:
        patched.setattr(deploy, "_finish", lambda target: None)  # the process died here
        assert site.advance().deployed == ["mail"]
    assert deploy.installed(site.site_deploy()).pending
    result = engine.publish(site.load(), {"mem": site.provider}, clock=site.clock)
    assert len(result.recovered) == 1 and "rolled back" in result.recovered[0]
    assert not deploy.installed(site.site_deploy()).pending and site.installed() == first
    assert result.deployed == [] and first in site.dns()


def test_the_state_file_is_written_once_per_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = CertDir(tmp_path / "acme", "mx0.example.test", "certbot", LocalCA())
    acme.issue(new_key())
    names = [f"s{number}" for number in range(20)]
    state_path = tmp_path / "state" / "state.json"
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f'[defaults]\nttl = {TTL}\nstate = "{state_path}"\n'
        "[providers.mem]\ntype = 'memory'\n"
        + "".join(
            f"[[services]]\nname = '{name}'\nhosts = ['{name}.example.test']\n"
            f"cert = '{acme.dir}'\nprobe = false\n"
            for name in names
        )
    )
    loaded = config.load(path)
    with state.locked(state_path) as held:
        engine.put_under_rollover(held, names)
    writes: list[int] = []
    save = state.save
    monkeypatch.setattr(state, "save", lambda *args: (writes.append(1), save(*args))[1])
    result = engine.publish(loaded, {"mem": MemoryProvider()}, clock=Clock())
    assert len(result.first.pending) == 20 and result.failure is None
    assert len(writes) == 2  # the pass's observation, then the one after the wait
    remembered = state.load(state_path)
    assert sorted(remembered) == sorted(names)
    assert all(memory.started and memory.published for memory in remembered.values())
