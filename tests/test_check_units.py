"""check without the lab: answer classification, exit codes, STARTTLS dialects, light imports."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers import Cli, needs_provider
from tests.test_core_imports import forbidden_loaded_by
from tests.testbed.postfix import Chain, make_chain
from tlsagen.check import (
    DNSSEC_BOGUS,
    FAILURE,
    MISMATCH,
    NOTE,
    WARNING,
    HostReport,
    Job,
    Keys,
    Problem,
    Report,
    Settings,
    Target,
    TargetReport,
    _Run,
    _unexplained,
    resolver_problem,
    run_jobs,
)
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, TLSAData, compute
from tlsagen.errors import ProviderError
from tlsagen.net import lookup
from tlsagen.net.lookup import BOGUS, INDETERMINATE, INSECURE, SECURE, Answer, Resolver
from tlsagen.net.probe import ProbeError, fetch, starttls_for
from tlsagen.provider import Endpoint
from tlsagen.rollover.planner import Live, Memory, Published

NAME = "mx1.example.test."


def reply(rcode: int, ad: bool = False, ede: int | None = None, data: bool = True) -> object:
    response = dns.message.make_response(dns.message.make_query(NAME, "A"))
    response.set_rcode(rcode)
    if ad:
        response.flags |= dns.flags.AD
    if data and rcode == dns.rcode.NOERROR:
        response.answer.append(dns.rrset.from_text(NAME, 60, "IN", "A", "127.0.0.1"))
    if ede is not None:
        response.use_edns(0, options=[dns.edns.EDEOption(ede, "test")])
    return response


def classify(monkeypatch: pytest.MonkeyPatch, plain: object, with_cd: object = None) -> Answer:
    """The resolver's verdict when it answers `plain`, and `with_cd` to a CD=1 retry."""

    def send(name: str, rdtype: str, cd: bool, do: bool = False) -> object:
        answer = with_cd if cd else plain
        if isinstance(answer, Exception):
            raise answer
        return answer

    resolver = Resolver(Endpoint("127.0.0.1", 53), 1.0)
    monkeypatch.setattr(resolver, "_send", send)
    return resolver.query(NAME, "A")


def test_ad_means_secure_and_no_ad_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    secure = classify(monkeypatch, reply(dns.rcode.NOERROR, ad=True))
    assert secure.status == SECURE and secure.values() == ["127.0.0.1"]
    insecure = classify(monkeypatch, reply(dns.rcode.NXDOMAIN))
    assert insecure.status == INSECURE and insecure.nxdomain


def test_servfail_with_a_dnssec_ede_is_bogus(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = classify(monkeypatch, reply(dns.rcode.SERVFAIL, ede=9))
    assert answer.status == BOGUS
    assert "EDE 9 (Dnskey Missing: test)" in answer.detail


def test_servfail_that_cd_answers_is_bogus(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = classify(monkeypatch, reply(dns.rcode.SERVFAIL), reply(dns.rcode.NOERROR))
    assert answer.status == BOGUS and "CD=1" in answer.detail


@pytest.mark.parametrize("ede", [None, 3, 13])
def test_other_servfails_are_indeterminate(monkeypatch: pytest.MonkeyPatch, ede: int) -> None:
    answer = classify(monkeypatch, reply(dns.rcode.SERVFAIL, ede=ede), reply(dns.rcode.SERVFAIL))
    assert answer.status == INDETERMINATE


def test_no_answer_is_indeterminate(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = classify(monkeypatch, ProviderError("The DNS operation timed out."))
    assert answer.status == INDETERMINATE
    assert "no answer from resolver 127.0.0.1:53" in answer.detail


def report_with(*kinds: str) -> Report:
    target = TargetReport(Target(NAME), problems=[Problem(kind, kind) for kind in kinds])
    return Report((target,))


@pytest.mark.parametrize(
    ("kinds", "strict", "code"),
    [
        ((), False, None),
        ((NOTE, WARNING), False, None),
        ((NOTE, WARNING), True, 6),
        ((FAILURE, MISMATCH), False, 7),
        ((FAILURE, MISMATCH, DNSSEC_BOGUS), False, 6),
        ((FAILURE, WARNING), True, 4),
    ],
)
def test_exit_code_is_the_most_severe_problem(
    kinds: tuple[str, ...], strict: bool, code: int | None
) -> None:
    error = report_with(*kinds).error(strict)
    assert (error.exit_code if error else None) == code


def test_the_error_counts_the_rest() -> None:
    error = report_with(MISMATCH, MISMATCH).error(False)
    assert str(error) == "mismatch (and 1 more mismatch problem(s))"


@pytest.mark.parametrize(
    ("port", "protocol"), [(25, "smtp"), (587, "smtp"), (143, "imap"), (110, "pop3"), (465, "none")]
)
def test_starttls_by_port(port: int, protocol: str) -> None:
    assert starttls_for(port) == protocol


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(tmp_path_factory.mktemp("certs"), "ecdsa")


DIALOGUES = {  # protocol -> (greeting, the client's command, the server's go-ahead)
    "imap": (b"* OK ready\r\n", b"a STARTTLS\r\n", b"a OK begin TLS\r\n"),
    "pop3": (b"+OK ready\r\n", b"STLS\r\n", b"+OK begin TLS\r\n"),
}


@pytest.fixture
def server(chain: Chain, request: pytest.FixtureRequest) -> Iterator[int]:
    """A one-connection IMAP or POP3 server that upgrades to TLS with the test chain."""
    greeting, command, go_ahead = DIALOGUES[request.param]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(Path(chain.pem_file))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(greeting)
            assert conn.recv(100) == command
            conn.sendall(go_ahead)
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(5)
    listener.close()


@pytest.mark.parametrize("server", ["imap", "pop3"], indirect=True)
def test_imap_and_pop3_starttls(server: int, chain: Chain, request: pytest.FixtureRequest) -> None:
    protocol = request.node.callspec.params["server"]
    served = fetch("127.0.0.1", server, "mx1.example.test", protocol, None, 5.0)
    assert served.chain == chain.served


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(ProbeError) as caught:
        fetch("127.0.0.1", port, "x.test", "smtp", None, 2.0)
    assert caught.value.stage == "connect"


def test_the_core_of_check_loads_no_cli_stack() -> None:
    modules = ["tlsagen.core.verify", "tlsagen.net.lookup", "tlsagen.net.probe", "tlsagen.check"]
    assert forbidden_loaded_by(modules) == []


def test_the_cli_module_loads_no_heavy_modules() -> None:
    heavy = ("ssl", "rich", "concurrent.futures")
    code = f"import sys, tlsagen.cli.check; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_offline_check_with_records_reads_no_configuration(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unrelated (here broken) ./tlsagen.toml does not stop an offline check needing no DNS."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tlsagen.toml").write_text("not toml [\n")
    chain = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"
    record = compute(material.read_source(str(chain)), Params(3, 1, 1)).to_text()
    run = cli("check", "--chain", chain, "--tlsa", record, "--name", "mx1.example.com")
    assert run.code == 0, run.err


def test_cached_fetches_of_different_keys_overlap() -> None:
    """While one key is being fetched, another key's fetch runs: it is not held up behind it."""
    state = _Run(Settings(resolver=None, now=datetime.now(UTC)))
    a_started, b_ran = threading.Event(), threading.Event()
    results: dict[str, bool] = {}

    def make_a() -> bool:
        a_started.set()
        return b_ran.wait(timeout=10)  # False: B could not run while A was being fetched

    def make_b() -> bool:
        b_ran.set()
        return True

    first = threading.Thread(target=lambda: results.update(a=state._once("a", make_a)))
    first.start()
    assert a_started.wait(timeout=10)
    second = threading.Thread(target=lambda: results.update(b=state._once("b", make_b)))
    second.start()
    first.join()
    second.join()
    assert results == {"a": True, "b": True}
    assert state._once("a", lambda: False) is True  # made once, then remembered


def test_a_cached_fetch_that_raises_is_tried_again() -> None:
    state = _Run(Settings(resolver=None, now=datetime.now(UTC)))

    def fail() -> int:
        raise ProviderError("down")

    with pytest.raises(ProviderError, match="down"):
        state._once("k", fail)
    assert state._once("k", lambda: 2) == 2
    assert state._once("k", fail) == 2


def test_offline_check_with_records_asks_for_no_resolver(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--chain with --tlsa needs no DNS: a machine without /etc/resolv.conf can run it."""

    def no_resolver() -> None:
        raise ProviderError("no system resolver")

    monkeypatch.setattr(lookup, "system_resolver", no_resolver)
    monkeypatch.chdir(tmp_path)
    chain = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"
    record = compute(material.read_source(str(chain)), Params(3, 1, 1)).to_text()
    run = cli("check", "--chain", chain, "--tlsa", record, "--name", "mx1.example.com")
    assert run.code == 0, run.err
    failed = cli("check", "--chain", chain, "mx1.example.com")
    assert failed.code == 2 and "give no TARGET" in failed.err


def test_run_jobs_runs_what_jobs_return_at_most_workers_at_a_time() -> None:
    running, most, ran = [0], [0], []
    lock = threading.Lock()

    def job(depth: int) -> list[Job]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
            ran.append(depth)
        return [partial(job, depth + 1), partial(job, depth + 1)] if depth < 3 else []

    seen: list[tuple[int, int]] = []
    run_jobs([partial(job, 0)] * 2, 4, lambda done, total: seen.append((done, total)))
    assert sorted(ran) == sorted([0] * 2 + [1] * 4 + [2] * 8 + [3] * 16)
    assert most[0] <= 4
    assert seen[-1] == (30, 30)


def test_run_jobs_raises_the_first_error_once_the_other_jobs_ran() -> None:
    ran = []

    def fail() -> list[Job]:
        raise ProviderError("down")

    def fine(n: int) -> list[Job]:
        ran.append(n)
        return []

    with pytest.raises(ProviderError, match="down"):
        run_jobs([fail, *(partial(fine, n) for n in range(20))], 3)
    assert sorted(ran) == list(range(20))
    run_jobs([], 3)  # nothing to do: returns


def test_a_problem_of_the_run_sets_the_exit_code() -> None:
    report = Report((), Endpoint("127.0.0.1"), (Problem(FAILURE, "resolver"),))
    error = report.error(strict=False)
    assert error is not None and error.exit_code == 4


def test_a_resolver_that_refuses_is_known_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    why = resolver_problem(Endpoint("127.0.0.1", port), 20.0)
    assert time.monotonic() - started < 5
    assert why == f"resolver 127.0.0.1:{port} refused the query (nothing listens there)"


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def record_notes(record: TLSAData, keys: Keys | None) -> tuple[str, str]:
    host = HostReport(Owner.for_service(NAME, 25), "smtp", keys)
    return _unexplained(record, host, NOW)


def test_records_are_named_by_the_keys_configuration_and_state_know(tmp_path: Path) -> None:
    current, following = (material.read_source(str(make_key(tmp_path, n))) for n in "ab")
    later = compute(following, Params(3, 1, 1))
    former = TLSAData(3, 1, 1, bytes(32))
    memory = Memory(
        started=True,
        published={later: Published(NOW - timedelta(hours=2), 60), former: Published(NOW, 60)},
        live=Live(frozenset({"ab" * 32}), NOW - timedelta(seconds=30)),
    )
    keys = Keys((current,), None, (following,), memory, 60, under_rollover=True)
    assert record_notes(later, keys) == (
        NOTE,
        f"3 1 1 {later.data.hex()[:16]}…: next key ({following.source}), published 2 h ago",
    )
    kind, text = record_notes(former, keys)
    assert (kind, text.split(": ", 1)[1]) == (
        NOTE,
        "retiring (a former key), removal due at 2026-12-03 12:00:30 UTC",
    )
    unmanaged = Keys((current,), None, (), memory, 60, under_rollover=False)
    assert record_notes(former, unmanaged)[0] == WARNING
    assert "stale?" in record_notes(TLSAData(3, 1, 1, b"\1" * 32), keys)[1]
    assert record_notes(former, None)[0] == NOTE  # no configuration: perhaps a next key


def make_key(directory: Path, name: str) -> Path:
    path = directory / f"{name}.key"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


@needs_provider("zonefile")
def test_a_configuration_without_tcp_services_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"""[defaults]
resolver = "127.0.0.1:9"
state = "{tmp_path / "state.json"}"
[providers.files]
type = "zonefile"
path = "{tmp_path / "zones"}"
[[services]]
name = "sip"
hosts = ["sip.example.com"]
ports = [5060]
proto = "udp"
key = "{make_key(tmp_path, "sip")}"
"""
    )
    run = cli("check", "--config", config)
    assert run.code == 3
    assert "give a TARGET, or a configuration whose services to check" in run.err
    assert "only TCP services can be checked; skipped" in run.err
