"""`tlsagen publish` through the PowerDNS provider while the API or the server misbehaves at one
step.

The provider's `api-url` is an HTTP proxy on loopback in front of the real pdns_server's API
that spoils the requests of one step (it answers itself, or lets PowerDNS act first and spoils
only the answer, or stops pdns_server with SIGSTOP right after it applied a PATCH); its
`nameservers` is a FaultyDns proxy in front of pdns_server's DNS port, for the propagation wait.
Every case starts from two owners holding the old RRset, plans to add the next key's record to
both (one PATCH), and checks: the exit code and its one-line message, that both owners hold the
old or the new RRset (never one of each), that a record outside the change survives, and that a
re-run without the fault converges.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.opcode
import pytest

from tests.faults.common import (
    CERT,
    EITHER,
    NEW,
    NEXT_KEY,
    OLD,
    Faults,
    case_id,
    held_state,
    long_run,
    record_of,
    run_cli,
    served,
)
from tests.helpers import Run
from tests.testbed.faulty import DOWN as DNS_DOWN
from tests.testbed.faulty import EMPTY, FaultyDns, Rule
from tests.testbed.powerdns import PowerDns, write_tlsa
from tlsagen.core.records import Owner
from tlsagen.net import dns as tdns
from tlsagen.provider import Endpoint

pytest.importorskip("tlsagen_powerdns")  # a fault test of the CLI with this provider
import tlsagen_powerdns.api

KEY_ENV = "TLSAGEN_TEST_PDNS_KEY"
DISCOVER = "zone discovery"
READ = "read"
APPLY = "apply"
CONFIRM = "apply: read back"
WAIT = "propagation wait"
TIMEOUT = 0.5  # the provider's, per HTTP exchange

# What the proxy does with a request it spoils.
FORWARD = "forward"
DOWN = "down"  # close the connection without an answer
HANG = "hang"  # never answer, until healed
SLOW = "slow"  # answer 0.2 s late
GARBAGE = "garbage"  # 200 with a body that is not JSON
STATUS = "status"  # an error status with a JSON error
PAUSE = "pause"  # SIGSTOP pdns_server (after it acted on the request), then hang


@dataclass(frozen=True)
class Fault:
    action: str
    status: int = 0
    forward_first: bool = False  # PowerDNS acts on the request; only its answer is spoiled
    times: int | None = None  # spoil only the first `times` requests of the step


AFTER = {"forward_first": True}
FAULTS: dict[str, Fault] = {
    "API goes away": Fault(DOWN),
    "API hangs": Fault(HANG),
    "slow answer (0.2 s)": Fault(SLOW),
    "garbage answer": Fault(GARBAGE),
    "HTTP 401": Fault(STATUS, 401),
    "HTTP 403": Fault(STATUS, 403),
    "HTTP 404": Fault(STATUS, 404),
    "HTTP 422": Fault(STATUS, 422),
    "HTTP 500": Fault(STATUS, 500),
    "HTTP 503 once": Fault(STATUS, 503, times=1),
    "answer lost after the server applied it": Fault(HANG, **AFTER),
    "connection dropped after the server applied it": Fault(DOWN, **AFTER),
    "HTTP 500 after the server applied it": Fault(STATUS, 500, **AFTER),
    "garbage answer after the server applied it": Fault(GARBAGE, **AFTER),
    "pdns_server stops (SIGSTOP) after it applied it": Fault(PAUSE, **AFTER),
}
DNS_FAULTS = {
    "server goes away": Rule(DNS_DOWN, opcode=dns.opcode.QUERY),
    "stale answer (no records)": Rule(EMPTY, opcode=dns.opcode.QUERY),
}


class ApiProxy:
    """An HTTP proxy to the PowerDNS API that spoils the requests of one step."""

    def __init__(self, upstream: str, pdns_pid: int) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.pdns_pid = pdns_pid
        self.step: str | None = None
        self.fault: Fault | None = None
        self.spoiled = 0
        self.patched = False
        self.released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.handle(self)

            do_PATCH = do_POST = do_DELETE = do_PUT = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spoil(self, step: str, fault: Fault) -> None:
        self.step, self.fault, self.spoiled, self.patched = step, fault, 0, False
        self.released.clear()

    def heal(self) -> None:
        self.step = self.fault = None
        self.released.set()
        os.kill(self.pdns_pid, signal.SIGCONT)

    def close(self) -> None:
        self.heal()
        self.server.shutdown()
        self.server.server_close()

    def step_of(self, method: str, path: str) -> str:
        if method == "PATCH":
            return APPLY
        if path.endswith("/zones"):
            return DISCOVER
        return CONFIRM if self.patched else READ

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        step = self.step_of(request.command, request.path)
        fault = self.fault
        if fault is None or step != self.step or (fault.times and self.spoiled >= fault.times):
            fault = None
        else:
            self.spoiled += 1
        if request.command == "PATCH":
            self.patched = True
        if fault is None or fault.forward_first or fault.action == SLOW:
            if fault is not None and fault.action == SLOW:
                time.sleep(0.2)
            answer = self.forward(request, body)
            if fault is None or fault.action == SLOW:
                self.send(request, *answer)
                return
        assert fault is not None
        if fault.action == PAUSE:
            os.kill(self.pdns_pid, signal.SIGSTOP)
        if fault.action in (HANG, PAUSE):
            self.released.wait(30)
        if fault.action == GARBAGE:
            self.send(request, 200, b"<html><body>It works!</body></html>")
        elif fault.action == STATUS:
            self.send(request, fault.status, b'{"error": "injected \\u001b[31mfault"}')
        request.close_connection = True  # DOWN, HANG and PAUSE: no answer at all

    def forward(self, request: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, bytes]:
        upstream = http.client.HTTPConnection(
            self.upstream.hostname or "", self.upstream.port, timeout=10
        )
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            upstream.request(request.command, request.path, body, headers)
            answer = upstream.getresponse()
            return answer.status, answer.read()
        finally:
            upstream.close()

    @staticmethod
    def send(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


@dataclass(frozen=True)
class Case:
    step: str
    fault: str
    code: int
    held: str

    @property
    def id(self) -> str:
        return case_id("powerdns", self.step, self.fault)


def cases(step: str, expected: dict[str, tuple[int, str]], core: set[str]) -> list[Any]:
    """The step's cases; those not in `core` run only with the long fault tests."""
    return [
        pytest.param(case, id=case.id, marks=() if fault in core else long_run)
        for fault, outcome in expected.items()
        for case in [Case(step, fault, *outcome)]
    ]


CASES = [
    *cases(
        DISCOVER,
        {
            "API goes away": (4, OLD),
            "API hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),
            "HTTP 401": (4, OLD),
            "HTTP 404": (3, OLD),  # no such server-id: the configuration is wrong
            "HTTP 500": (4, OLD),
            "HTTP 503 once": (0, NEW),  # reads are retried
        },
        core={"API goes away", "HTTP 401", "HTTP 503 once"},
    ),
    *cases(
        READ,
        {
            "API goes away": (4, OLD),
            "API hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),
            "HTTP 403": (4, OLD),
            "HTTP 404": (4, OLD),
            "HTTP 500": (4, OLD),
            "HTTP 503 once": (0, NEW),
        },
        core={"API hangs", "garbage answer", "HTTP 500"},
    ),
    *cases(
        APPLY,
        {
            "API goes away": (4, OLD),
            "API hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),  # 200 without applying: the read back tells
            "HTTP 401": (4, OLD),
            "HTTP 422": (4, OLD),
            "HTTP 500": (4, OLD),  # never sent again; the read back says it was not applied
            "answer lost after the server applied it": (0, NEW),
            "connection dropped after the server applied it": (0, NEW),
            "HTTP 500 after the server applied it": (0, NEW),
            "garbage answer after the server applied it": (0, NEW),
            "pdns_server stops (SIGSTOP) after it applied it": (4, EITHER),
        },
        core={
            "API hangs",
            "HTTP 422",
            "HTTP 500",
            "answer lost after the server applied it",
            "pdns_server stops (SIGSTOP) after it applied it",
        },
    ),
    *cases(
        CONFIRM,
        {
            "API goes away": (0, NEW),  # applied: only a warning
            "API hangs": (0, NEW),
            "HTTP 500": (0, NEW),
        },
        core={"API hangs"},
    ),
    *cases(
        WAIT,
        {"server goes away": (4, NEW), "stale answer (no records)": (4, NEW)},
        core={"stale answer (no records)"},
    ),
]


class Site:
    """Two owners and a bystander in the PowerDNS zone, published through the proxies."""

    def __init__(self, directory: Path, lab: PowerDns, label: str) -> None:
        self.dir, self.lab = directory, lab
        self.hosts = [f"{label}a.{lab.zone}", f"{label}b.{lab.zone}"]
        self.owners = [Owner.for_service(host, 25) for host in self.hosts]
        self.bystander = Owner.for_service(f"{label}keep.{lab.zone}", 25)
        self.server = Endpoint(lab.dns.host, lab.dns.port)

    def config(self, api_url: str, nameserver: str) -> Path:
        path = self.dir / "tlsagen.toml"
        path.write_text(
            f"[defaults]\nttl = 60\nresolver = '{self.lab.resolver.address()}'\n"
            f"state = '{self.dir / 'state.json'}'\n\n"
            f"[providers.pdns]\ntype = 'powerdns'\napi-url = '{api_url}'\n"
            f"api-key = 'env:{KEY_ENV}'\nnameservers = ['{nameserver}']\ntimeout = {TIMEOUT}\n\n"
            f"[[services]]\nname = 'mail'\nhosts = {self.hosts}\ncert = '{CERT}'\n"
            f"next-key = '{NEXT_KEY}'\n"
        )
        return path

    def seed(self) -> None:
        """The old RRset (the current certificate's record) at both owners and the bystander."""
        for owner in (*self.owners, self.bystander):
            write_tlsa(self.lab, owner.name, 60, [record_of(CERT)])

    def held(self) -> str:
        return held_state(served(self.server, self.owners))

    def bystander_intact(self) -> bool:
        found = tdns.tlsa_at(self.server, self.bystander)
        return found is not None and found.texts() == [record_of(CERT)]


@pytest.fixture(scope="module")
def proxies(powerdns_server: PowerDns) -> Iterator[tuple[ApiProxy, FaultyDns]]:
    api = ApiProxy(powerdns_server.api_url, powerdns_server.dns.pid)
    wait = FaultyDns(powerdns_server.dns)
    yield api, wait
    api.close()
    wait.close()


def publish(capsys: pytest.CaptureFixture[str], config: Path, timeout: float) -> Run:
    return run_cli(capsys, "publish", "--config", config, "--timeout", str(timeout))


@pytest.mark.parametrize("case", CASES)
def test_publish_through_a_faulty_api(
    case: Case,
    powerdns: PowerDns,
    proxies: tuple[ApiProxy, FaultyDns],
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    monkeypatch.setattr(tlsagen_powerdns.api, "BACKOFF", 0.01)
    monkeypatch.setenv(KEY_ENV, powerdns.api_key)
    api, wait = proxies
    site = Site(tmp_path, powerdns, fresh_host)
    site.seed()
    config = site.config(api.url, wait.address())
    if case.step == WAIT:
        wait.spoil(DNS_FAULTS[case.fault])
    else:
        api.spoil(case.step, FAULTS[case.fault])
    try:
        run = publish(capsys, config, 1 if case.step == WAIT else 20)
    finally:
        api.heal()
        wait.heal()
    line = faults.expect("powerdns", case.step, case.fault, run, case.code, case.held)
    assert case.held != EITHER or (line is not None and "it may have been applied" in line)
    assert "\x1b" not in run.err and powerdns.api_key not in run.out + run.err
    held = site.held()
    assert held == case.held or case.held == EITHER, run.err
    assert site.bystander_intact()
    rerun = publish(capsys, config, 20)
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW
