"""`tlsagen publish` against nameservers that will never serve the zone: real BIND servers that
answer REFUSED (not configured for the zone) and SERVFAIL (a secondary that cannot load it),
the lab's Knot (it serves another zone: REFUSED), and a proxy in front of the real secondary
that answers NOTAUTH. Each is named with its rcode
as soon as it answers, the wait stops for it, and the exit (4) says the change was applied.

Also `params` changes (3 0 1 -> 3 1 1) in one publish, against the real BIND primary + secondary.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dns.rcode
import pytest

from tests.test_cli_publish import EXAMPLE, Site, hash_of
from tests.testbed.bind import start_named
from tests.testbed.faulty import RCODE, Rule, faulty
from tests.testbed.model import DnsLab, Server
from tests.testbed.ports import free_port
from tests.testbed.probe import query
from tests.testbed.tiers import starts_servers
from tlsagen import engine
from tlsagen.config import load
from tlsagen.core import material
from tlsagen.core.tlsa import Params, compute

ZONE = "example.test."
STRANGER_ZONE = "other.test."
TIMEOUT = 60  # what a run waits at most; the failing servers must be named long before


def answers(server: Server, rcode: dns.rcode.Rcode) -> bool | None:
    """True once `server` answers the zone's SOA with `rcode` (a readiness probe)."""
    return True if query(server, ZONE, "SOA", timeout=0.2).rcode() == rcode else None


@pytest.fixture(scope="module")
@starts_servers
def never_serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two real BIND servers: one serving only another zone (REFUSED for example.test.), one a
    secondary of example.test. whose primary does not exist (SERVFAIL)."""
    root = tmp_path_factory.mktemp("never-serving")
    stranger_dir = root / "stranger"
    stranger_dir.mkdir()
    (stranger_dir / "other.db").write_text(
        "$TTL 60\n@ SOA ns1 hostmaster 1 60 60 600 60\n@ NS ns1\nns1 A 127.0.0.1\n"
    )
    stranger_body = f'zone "{STRANGER_ZONE}" {{ type primary; file "other.db"; }};\n'
    orphan_body = (
        f'zone "{ZONE}" {{ type secondary; file "orphan.bk"; '
        f"primaries {{ 127.0.0.1 port {free_port()}; }}; }};\n"
    )
    with (
        start_named("stranger", stranger_dir, free_port(), [], stranger_body) as stranger,
        start_named("orphan", root / "orphan", free_port(), [], orphan_body) as orphan,
    ):
        stranger.wait_until(lambda: answers(stranger.server, dns.rcode.REFUSED), "refuse")
        orphan.wait_until(lambda: answers(orphan.server, dns.rcode.SERVFAIL), "fail")
        yield stranger.server, orphan.server


def site_with(dns_lab: DnsLab, tmp_path: Path, host: str, *extra: Server) -> Site:
    zone = dataclasses.replace(dns_lab.bind, servers=(*dns_lab.bind.servers, *extra))
    return Site(tmp_path, zone, host)


def test_refused_and_servfail_servers_are_named_at_once_and_not_waited_for(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    never_serving: tuple[Server, Server],
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger, orphan = never_serving
    knot = dns_lab.knot.primary  # serves knot.test. only
    site = site_with(dns_lab, tmp_path, fresh_host, stranger, orphan, knot)
    started = time.monotonic()
    code, out, err = site.run(capsys, "publish", "--json", "--timeout", str(TIMEOUT))
    assert code == 4, err
    assert time.monotonic() - started < TIMEOUT / 3  # it did not wait for them
    assert f"warning: server {stranger.address()} answered REFUSED" in err
    assert f"warning: server {orphan.address()} answered SERVFAIL" in err
    assert f"warning: server {knot.address()} answered REFUSED" in err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "the change was applied to zone example.test." in error
    assert f"{stranger.address()} answered REFUSED" in error and "waiting will not help" in error
    states = {s["server"]: (s["state"], s["rcode"]) for s in json.loads(out)["servers"]}
    assert states == {
        **{s.address(): ("serving", "NOERROR") for s in dns_lab.bind.servers},
        stranger.address(): ("failing", "REFUSED"),
        orphan.address(): ("failing", "SERVFAIL"),
        knot.address(): ("failing", "REFUSED"),
    }
    for server in dns_lab.bind.servers:  # the real servers got the change
        assert site.served(server) == {hash_of(EXAMPLE)}

    code, out, err = site.run(capsys, "publish", "--timeout", str(TIMEOUT))  # text output
    assert code == 4 and "DNS held the planned records already" in err
    assert f"{stranger.address()}: NOT serving 1 owner(s)" in out and "answered REFUSED" in out


def test_a_notauth_answer_is_named_too(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """NOTAUTH: what a server answers a zone it is not authoritative for, in some setups (here a
    proxy in front of the real secondary answers it to TLSA queries)."""
    with faulty(dns_lab.bind.servers[1]) as proxy:
        proxy.spoil(Rule(RCODE, qtype="TLSA", rcode=dns.rcode.NOTAUTH))
        server = Server("proxy", "127.0.0.1", proxy.port, 0)
        site = site_with(dns_lab, tmp_path, fresh_host, server)
        started = time.monotonic()
        code, _, err = site.run(capsys, "publish", "--timeout", str(TIMEOUT))
    assert code == 4 and time.monotonic() - started < TIMEOUT / 3, err
    assert f"{server.address()} answered NOTAUTH for zone example.test." in err


def test_the_progress_names_the_servers_still_missing(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, never_serving: tuple[Server, Server]
) -> None:
    """What a terminal's progress bar shows: the servers still waited for, by name; a server
    answering REFUSED drops out of it at once."""
    stranger, _ = never_serving
    secondary = dns_lab.bind.servers[1]
    site = site_with(dns_lab, tmp_path, fresh_host, stranger)
    loaded = load(site.write())
    providers = engine.open_providers(loaded, ["dns"])
    plan = engine.make_plan(loaded, providers, datetime.now(UTC))
    seen: list[list[str]] = []
    os.kill(secondary.pid, signal.SIGSTOP)  # it lags: stopped before the NOTIFY reaches it
    try:
        engine.apply(plan, providers)
    except BaseException:
        os.kill(secondary.pid, signal.SIGCONT)
        raise
    timer = threading.Timer(1.5, os.kill, (secondary.pid, signal.SIGCONT))
    timer.start()
    try:
        reports = engine.wait_for_servers(
            plan, providers, TIMEOUT, lambda done, total, waiting: seen.append(list(waiting))
        )
    finally:
        timer.join()
        os.kill(secondary.pid, signal.SIGCONT)
    named = {name for names in seen for name in names}
    assert secondary.address() in named and stranger.address() not in named
    assert seen[-1] == []
    states = {str(r.server): r.state for r in reports}
    assert states[stranger.address()] == "failing" and states[secondary.address()] == "serving"


def test_changing_params_is_one_safe_publish(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`3 0 1` -> `3 1 1`, as tlsagen's lint recommends: the live key stays covered by the new
    RRset (and by the old one resolvers may hold), so it is published in one run."""
    site = Site(tmp_path, dns_lab.bind, fresh_host)
    site.params = ["3 0 1"]
    assert site.run(capsys, "publish")[0] == 0
    cert = material.read_source(str(EXAMPLE))
    assert site.served(dns_lab.bind.primary) == {compute(cert, Params(3, 0, 1)).to_text()}
    site.params = ["3 1 1"]
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    assert "- 3 0 1" in out and "+ 3 1 1" in out
    for server in dns_lab.bind.servers:
        assert site.served(server) == {hash_of(EXAMPLE)}
