"""Faults around whole runs of `tlsagen publish`: the process killed (SIGKILL) at random points,
two runs at once, the clock stepping back during the wait, a DNS server killed or paused under
it, and the state file on a read-only or full disk, or damaged.

Each change set (one per zone) must end whole: the old or the new RRset at every owner of the
zone, never some of each; and a plain re-run must converge.
"""

from __future__ import annotations

import inspect
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import dns.rdatatype
import dns.zone
import pytest

from tests.faults.common import (
    CERT,
    EITHER,
    NEW,
    NEXT_KEY,
    OLD,
    STATES,
    Faults,
    SmallDisk,
    error_line,
    held_state,
    long_run,
    record_of,
    run_cli,
    served,
)
from tests.testbed import DnsLab, nsupdate, pause
from tests.testbed.bind import make_tsig_key, start_zones_primary
from tests.testbed.faulty import EMPTY, HANG, Rule, faulty
from tests.testbed.lab import child_zone_text
from tests.testbed.ports import free_port
from tests.testbed.proc import Proc
from tests.testbed.tiers import starts_servers
from tlsagen import engine
from tlsagen.config import load as load_config
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.errors import ConflictError
from tlsagen.net.dns import tlsa_at
from tlsagen.provider import Endpoint, ProviderSettings, load
from tlsagen.rollover import keys
from tlsagen.testing import record

pytest.importorskip("tlsagen_rfc2136")  # a fault test of the CLI with this provider
from tlsagen_rfc2136 import transport

HOSTS = 8  # per zone
RUN = [sys.executable, "-c", "from tlsagen.cli.app import run; run()"]


class Site(Protocol):
    """Owners in one or more zones, configs that put the old or the new RRset there, and what
    each zone holds (one state per change set)."""

    def config(self, next_key: Path | None, name: str) -> Path: ...

    def held(self, states: dict[str, frozenset[str]] | None = None) -> list[str]: ...


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


class DnsSite:
    """HOSTS owners in the lab's BIND zone and as many in its Knot zone: two change sets."""

    def __init__(
        self, lab: DnsLab, directory: Path, label: str, kinds: tuple[str, ...] = ("bind", "knot")
    ) -> None:
        self.dir = directory
        self.zones = {kind: getattr(lab, kind) for kind in kinds}
        self.timeout = 2.0  # the provider's
        self.nameservers = {
            kind: [server.address() for server in zone.servers] for kind, zone in self.zones.items()
        }
        self.hosts = {
            name: [f"{label}-{i}.{zone.name}" for i in range(HOSTS)]
            for name, zone in self.zones.items()
        }

    def config(self, next_key: Path | None, name: str) -> Path:
        text = f"[defaults]\nttl = 60\nstate = '{self.dir / 'state.json'}'\n"
        for kind, zone in self.zones.items():
            nameservers = toml_list(self.nameservers[kind])
            text += (
                f"\n[providers.{kind}]\ntype = 'rfc2136'\nserver = '{zone.primary.address()}'\n"
                f"key-file = '{zone.key.key_file}'\nnameservers = {nameservers}\n"
                f"timeout = {self.timeout}\n"
                f"\n[[services]]\nname = 'mail-{kind}'\nprovider = '{kind}'\n"
                f"hosts = {toml_list(self.hosts[kind])}\ncert = '{CERT}'\n"
            )
            text += f"next-key = '{next_key}'\n" if next_key else ""
        path = self.dir / name
        path.write_text(text)
        return path

    def held(self, states: dict[str, frozenset[str]] | None = None) -> list[str]:
        found = []
        for kind, zone in self.zones.items():
            primary = Endpoint(zone.primary.host, zone.primary.port)
            owners = [Owner.for_service(host, 25) for host in self.hosts[kind]]
            found.append(held_state(served(primary, owners), states))
        return found


class FileSite:
    """HOSTS owners in one zone file: one change set."""

    def __init__(self, directory: Path, check: str = "true") -> None:
        self.dir = directory
        self.state = directory / "state.json"
        self.service = ""  # more keys of the service
        self.file = directory / "zones" / "example.test.zone"
        self.file.parent.mkdir()
        self.file.write_text(child_zone_text("example.test."))
        self.check = check
        self.hosts = [f"mx{i}.example.test" for i in range(HOSTS)]

    def config(self, next_key: Path | None, name: str) -> Path:
        path = self.dir / name
        path.write_text(
            f"[defaults]\nttl = 60\nstate = '{self.state}'\n\n"
            f"[providers.files]\ntype = 'zonefile'\npath = '{self.file.parent}'\n"
            f"check-command = ['sh', '-c', '{self.check}', 'sh', '{{file}}']\n\n"
            f"[[services]]\nname = 'mail'\nhosts = {toml_list(self.hosts)}\ncert = '{CERT}'\n"
            + self.service
            + (f"next-key = '{next_key}'\n" if next_key else "")
        )
        return path

    def held(self, states: dict[str, frozenset[str]] | None = None) -> list[str]:
        zone = dns.zone.from_text(self.file.read_text(), "example.test.", relativize=False)
        records = [
            frozenset(
                r.to_text()
                for r in zone.get_rdataset(f"_25._tcp.{host}.", dns.rdatatype.TLSA) or ()
            )
            for host in self.hosts
        ]
        return [held_state(records, states)]

    def leftovers(self) -> list[str]:
        return [p.name for p in self.file.parent.iterdir() if p.name.startswith(".")]


def publish(config: Path, timeout: float = 30) -> subprocess.Popen[str]:
    """`tlsagen publish` as a process of its own."""
    argv = [*RUN, "publish", "--config", str(config), "--timeout", str(timeout)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def converge(site: Site, config: Path, want: str) -> None:
    code, err = finished(publish(config))
    assert code == 0, err
    assert set(site.held()) == {want}


@pytest.fixture(params=[pytest.param("rfc2136", marks=pytest.mark.servers), "zonefile"])
def site(request: pytest.FixtureRequest, tmp_path: Path, fresh_host: str) -> Site:
    if request.param == "zonefile":
        return FileSite(tmp_path)
    lab: DnsLab = request.getfixturevalue("dns_lab")
    return DnsSite(lab, tmp_path, fresh_host)


def provider_name(site: Site) -> str:
    return "zonefile" if isinstance(site, FileSite) else "rfc2136 (BIND and Knot)"


@pytest.mark.parametrize(
    "runs", [pytest.param(3, id="3-runs"), pytest.param(40, id="40-runs", marks=long_run)]
)
def test_killed_at_random_points(site: Site, runs: int, faults: Faults) -> None:
    old, new = site.config(None, "old.toml"), site.config(NEXT_KEY, "new.toml")
    converge(site, old, OLD)
    started = time.monotonic()
    converge(site, new, NEW)
    duration = time.monotonic() - started
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    seen = []
    for number in range(runs):
        config, want = (old, OLD) if number % 2 else (new, NEW)
        process = publish(config)
        time.sleep(chance.uniform(0, duration))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        seen += site.held()  # each change set whole (held_state asserts it)
        converge(site, config, want)
    print(f"seed {seed}: killed {runs} runs; change sets then held: {sorted(seen)}")
    faults.record(provider_name(site), "any", f"tlsagen killed (SIGKILL), {runs} runs", -9, EITHER)


def at_once(*configs: Path) -> list[int]:
    """The exit codes of runs started together, sorted: each succeeds, or exits 5 (a conflict,
    found on applying or, when the other run replaced what it had published, on waiting)."""
    runs = [finished(process) for process in [publish(config, 20) for config in configs]]
    codes = sorted(code for code, _ in runs)
    assert codes in ([0, 0], [0, 5], [5, 5]), runs
    return codes


def test_two_runs_at_once(site: Site, tmp_path: Path, faults: Faults) -> None:
    other = tmp_path / "other.key"
    keys.write_new_key(other, keys.key_type("p256"))
    states = {**STATES, "theirs": frozenset({record_of(CERT), record_of(other)})}
    old, ours, rival = (
        site.config(None, "old.toml"),
        site.config(NEXT_KEY, "ours.toml"),
        site.config(other, "rival.toml"),
    )
    converge(site, old, OLD)
    assert at_once(ours, ours) in ([0, 0], [0, 5])
    assert set(site.held()) == {NEW}
    converge(site, old, OLD)
    codes = at_once(ours, rival)
    site.held(states)  # each zone whole, whoever won it
    converge(site, ours, NEW)
    provider = provider_name(site)
    faults.record(provider, "apply", "two runs at once, the same plan", "0 or 5", NEW)
    faults.record(provider, "apply", "two runs at once, different plans", "0 or 5", EITHER)
    print(f"different plans at once: exit codes {codes}")


def test_records_replaced_during_the_wait_never_hold_it_to_the_timeout(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    site = DnsSite(dns_lab, tmp_path, fresh_host, ("bind",))
    intruder = "3 1 1 " + "ab" * 32
    real_wait = engine.wait_for_servers

    def wait(*args: Any, **kwargs: Any) -> Any:
        owner = Owner.for_service(site.hosts["bind"][0], 25)
        nsupdate(
            dns_lab.bind, [f"update delete {owner} TLSA", f"update add {owner} 60 TLSA {intruder}"]
        )
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(engine, "wait_for_servers", wait)
    started = time.monotonic()
    run = run_cli(capsys, "publish", "--config", site.config(NEXT_KEY, "t.toml"), "--timeout", "2")
    assert time.monotonic() - started < 2
    # The wait asks no server again about an owner it served, nor the primary that confirmed the
    # UPDATE: the other writer is caught (5) when a server still polled serves its records, and
    # missed (0: every server served this run's records) when the secondary had transferred this
    # run's UPDATE first. Never a wait until the timeout (4).
    assert run.code in (0, 5), run.err
    owner = Owner.for_service(site.hosts["bind"][0], 25)
    assert run.code == 0 or f"another writer changed {owner} TLSA" in error_line(run)
    faults.record(
        "engine", "propagation wait", "another writer replaces a record", "0 or 5", EITHER
    )
    held = tlsa_at(Endpoint(dns_lab.bind.primary.host, dns_lab.bind.primary.port), owner)
    assert held is not None and held.texts() == [intruder]  # the other writer's change stands


def test_zone_file_runs_racing_to_the_rename_lose_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: Faults
) -> None:
    """Run A has checked that the file is unchanged and is about to rename its copy over it when
    run B, which read the same file, writes its own change: B must then conflict, or A would
    silently overwrite B's change while both report success."""
    site = FileSite(tmp_path)
    settings = ProviderSettings("files", {"path": str(site.file.parent)}, "t", tmp_path)
    first, second = (Owner.for_service(host, 25) for host in site.hosts[:2])
    runs = {owner: load("zonefile")(settings) for owner in (first, second)}
    for owner, provider in runs.items():
        provider.read("example.test.", [owner])
    real_replace = os.replace

    def slow_replace(source: str | Path, target: str | Path) -> None:
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.5)  # run B goes now
        real_replace(source, target)

    def change(owner: Owner) -> ChangeSet:
        return ChangeSet("example.test.", (Change(owner, None, rrset(owner, 60, [record("x")])),))

    monkeypatch.setattr(os, "replace", slow_replace)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(lambda: (time.sleep(0.2), runs[second].apply(change(second))))
        runs[first].apply(change(first))
        with pytest.raises(ConflictError):
            other.result()
    held = runs[first].read("example.test.", [first, second])
    assert set(held) == {first}
    faults.record("zonefile", "apply", "another run writes between check and rename", 5, OLD)


@pytest.fixture
def lagging_site(dns_lab: DnsLab, tmp_path: Path, fresh_host: str) -> Iterator[DnsSite]:
    """Owners in the BIND zone, whose last nameserver answers without the records (it lags)."""
    site = DnsSite(dns_lab, tmp_path, fresh_host, ("bind",))
    with faulty(dns_lab.bind.servers[-1]) as lagging:
        lagging.spoil(Rule(EMPTY))
        site.nameservers["bind"] = [dns_lab.bind.primary.address(), lagging.address()]
        yield site


def test_wall_clock_steps_back_during_the_wait(
    lagging_site: DnsSite,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    """The wall clock steps back an hour as publish starts to wait: the wait still ends at
    --timeout, as it measures time on the monotonic clock."""
    real_wait, real_time = engine.wait_for_servers, time.time

    def wait(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(time, "time", lambda: real_time() - 3600)
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(engine, "wait_for_servers", wait)
    config = lagging_site.config(NEXT_KEY, "tlsagen.toml")
    started = time.monotonic()
    run = run_cli(capsys, "publish", "--config", config, "--timeout", "1")
    assert time.monotonic() - started < 5
    line = faults.expect("engine", "propagation wait", "wall clock steps back 1 h", run, 4, NEW)
    assert line is not None and "1 server(s) do not serve every record after 1 s" in line
    assert lagging_site.held() == [NEW]


def test_injected_clock_stepping_back_still_ends_the_wait(
    lagging_site: DnsSite, capsys: pytest.CaptureFixture[str], faults: Faults
) -> None:
    """wait_for_servers measures its timeout on the clock it is given (time.monotonic unless a
    test injects one): one that steps back 10 s in the middle makes it wait 10 s longer by that
    clock, and it still ends, reporting the lagging server."""
    config = lagging_site.config(NEXT_KEY, "tlsagen.toml")
    assert run_cli(capsys, "publish", "--config", config, "--no-wait").code == 0
    loaded = load_config(config)
    providers = engine.open_providers(loaded, ["bind"])
    plan = engine.make_plan(loaded, providers, datetime.now(UTC))
    now = [100.0]
    slept: list[float] = []

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds - (10 if len(slept) == 2 else 0)

    reports = engine.wait_for_servers(plan, providers, 3, clock=clock, sleep=sleep)
    assert inspect.signature(engine.wait_for_servers).parameters["clock"].default is time.monotonic
    assert [bool(report.missing) for report in reports] == [False, True]
    assert 3 + 10 <= sum(slept) < 3 + 10 + 2 and all(r.seconds >= 0 for r in reports)
    faults.record("engine", "propagation wait", "injected clock steps back 10 s", 4, NEW)


@long_run
def test_wall_clock_steps_back_while_a_query_waits(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    """A server hangs; 0.5 s into the wait the wall clock steps back 20 s. Publish still ends by
    --timeout plus one query's 3 s timeout and 3 s for the report's SOA query: a query's timeout
    is a relative wait (dnspython turns its deadline into one before it waits)."""
    site = DnsSite(dns_lab, tmp_path, fresh_host, ("bind",))
    step = [0.0]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - step[0])
    with faulty(dns_lab.bind.servers[-1]) as silent:
        silent.spoil(Rule(HANG))
        site.nameservers["bind"] = [silent.address()]
        real_wait = engine.wait_for_servers

        def wait(*args: Any, **kwargs: Any) -> Any:
            threading.Timer(0.5, step.__setitem__, (0, 20.0)).start()
            return real_wait(*args, **kwargs)

        monkeypatch.setattr(engine, "wait_for_servers", wait)
        started = time.monotonic()
        run = run_cli(
            capsys, "publish", "--config", site.config(NEXT_KEY, "t.toml"), "--timeout", "1"
        )
        elapsed = time.monotonic() - started
    faults.expect("engine", "propagation wait", "wall clock steps back 20 s mid-query", run, 4, NEW)
    assert elapsed < 1 + 3 + 3 + 2, f"the wait took {elapsed:.0f} s"


def seed_state(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


MANAGED = '{"version": 1, "services": {"mail": {"managed": true}}}\n'


@pytest.fixture
def managed_site(tmp_path: Path, small_disk: SmallDisk) -> FileSite:
    """A zone-file site whose service is under rollover (so publish locks and writes the state),
    its state file on the small disk."""
    site = FileSite(tmp_path)
    site.state = small_disk.path / "state.json"
    site.service = "probe = false\n"
    return site


@pytest.mark.parametrize(
    ("fault", "spoil", "heal"),
    [
        pytest.param("state directory read-only", SmallDisk.freeze, SmallDisk.thaw, id="read-only"),
        pytest.param("disk full under the state file", SmallDisk.fill, SmallDisk.empty, id="full"),
    ],
)
def test_state_file_cannot_be_written(
    managed_site: FileSite,
    small_disk: SmallDisk,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    spoil: Any,
    heal: Any,
    faults: Faults,
) -> None:
    converge(managed_site, managed_site.config(None, "old.toml"), OLD)
    seed_state(managed_site.state, MANAGED)
    config = managed_site.config(NEXT_KEY, "new.toml")
    spoil(small_disk)
    run = run_cli(capsys, "publish", "--config", config)
    heal(small_disk)
    line = faults.expect("state file", "plan: remember", fault, run, 3, OLD)
    assert line is not None and str(small_disk.path) in line
    assert managed_site.held() == [OLD] and managed_site.leftovers() == []
    assert run_cli(capsys, "publish", "--config", config).code == 0
    assert managed_site.held() == [NEW]


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        pytest.param(
            "state file from a newer tlsagen", '{"version": 2, "services": {}}\n', id="newer"
        ),
        pytest.param(
            "state file damaged (not JSON)",
            '{"version": 1, "services": {"mail": {"managed": tru',
            id="damaged",
        ),
    ],
)
def test_unusable_state_file_is_refused(
    managed_site: FileSite,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    text: str,
    faults: Faults,
) -> None:
    converge(managed_site, managed_site.config(None, "old.toml"), OLD)
    seed_state(managed_site.state, text)
    run = run_cli(capsys, "publish", "--config", managed_site.config(NEXT_KEY, "new.toml"))
    assert managed_site.state.read_text() == text  # kept for the user to look at
    faults.expect("state file", "plan: read state", fault, run, 3, OLD)
    assert managed_site.held() == [OLD]


class OwnBind:
    """A BIND primary of its own (one unsigned zone), which a test may kill and start again."""

    ZONE = "own.test."

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory / "named"
        self.key = make_tsig_key("own-key.", directory)
        self.port = free_port()
        self.proc = self.start()

    def start(self) -> Proc:
        zones = {self.ZONE: child_zone_text(self.ZONE)}
        return start_zones_primary(self.directory, self.port, zones, self.key)

    def kill(self) -> None:
        self.proc.popen.kill()
        self.proc.popen.wait()

    def config(self, directory: Path, next_key: Path | None) -> Path:
        path = directory / ("new.toml" if next_key else "old.toml")
        address = f"127.0.0.1:{self.port}"
        path.write_text(
            f"[defaults]\nttl = 60\nstate = '{directory / 'state.json'}'\n\n"
            f"[providers.dns]\ntype = 'rfc2136'\nserver = '{address}'\n"
            f"key-file = '{self.key.key_file}'\nnameservers = ['{address}']\ntimeout = 1\n\n"
            f"[[services]]\nname = 'mail'\nhosts = ['mx1.{self.ZONE}', 'mx2.{self.ZONE}']\n"
            f"cert = '{CERT}'\n" + (f"next-key = '{next_key}'\n" if next_key else "")
        )
        return path

    def held(self) -> str:
        owners = [Owner.for_service(f"{host}.{self.ZONE}", 25) for host in ("mx1", "mx2")]
        return held_state(served(Endpoint("127.0.0.1", self.port), owners))


@pytest.fixture
@starts_servers
def own_bind(tmp_path: Path) -> Iterator[OwnBind]:
    server = OwnBind(tmp_path / "own-bind")
    yield server
    server.proc.stop()


def test_primary_killed_between_read_and_apply(
    own_bind: OwnBind,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    assert run_cli(capsys, "publish", "--config", own_bind.config(tmp_path, None)).code == 0
    real_apply = engine.apply

    def apply(*args: Any, **kwargs: Any) -> Any:
        own_bind.kill()
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(engine, "apply", apply)
    config = own_bind.config(tmp_path, NEXT_KEY)
    run = run_cli(capsys, "publish", "--config", config)
    monkeypatch.setattr(engine, "apply", real_apply)
    own_bind.proc = own_bind.start()
    line = faults.expect("rfc2136 (BIND)", "apply", "primary killed (SIGKILL)", run, 4, OLD)
    assert line is not None and "cannot reach" in line
    assert own_bind.held() == OLD
    assert run_cli(capsys, "publish", "--config", config).code == 0
    assert own_bind.held() == NEW


@pytest.mark.parametrize("kind", ["bind", pytest.param("knot", marks=long_run)])
def test_primary_paused_during_apply(
    kind: str,
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    """SIGSTOP for as long as the provider tries: it gets no answer to the UPDATE, twice, and
    cannot read the zone back. Resumed, the server may still apply the UPDATEs it has queued."""
    monkeypatch.setattr(transport, "BACKOFF", 0.01)
    site = DnsSite(dns_lab, tmp_path, fresh_host, (kind,))
    site.timeout = 0.5
    primary = site.zones[kind].primary
    assert run_cli(capsys, "publish", "--config", site.config(None, "old.toml")).code == 0
    real_apply = engine.apply

    def apply(*args: Any, **kwargs: Any) -> Any:
        with pause(primary):
            return real_apply(*args, **kwargs)

    monkeypatch.setattr(engine, "apply", apply)
    config = site.config(NEXT_KEY, "new.toml")
    run = run_cli(capsys, "publish", "--config", config)
    monkeypatch.setattr(engine, "apply", real_apply)
    server = "BIND" if kind == "bind" else "Knot"
    line = faults.expect(f"rfc2136 ({server})", "apply", "primary paused (SIGSTOP)", run, 4, EITHER)
    assert line is not None and "it may have been applied" in line
    site.held()  # whole
    assert run_cli(capsys, "publish", "--config", config).code == 0
    assert site.held() == [NEW]
