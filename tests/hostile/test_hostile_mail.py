"""`tlsagen check` against rogue SMTP and IMAP servers: endless replies, dripped bytes, escape
sequences, a refused STARTTLS, a certificate that cannot be parsed. Each run is a process of its
own with a wall-clock limit and its peak memory measured (tests/hostile/rogue.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import needs_provider
from tests.hostile.conftest import Hostile
from tests.hostile.rogue import (
    STUB,
    Conversation,
    RogueDns,
    Script,
    rogue_dns,
    rogue_mail,
    run_bounded,
    self_signed,
    site,
)
from tlsagen.rollover.planner import Memory
from tlsagen.rollover.slots import PROBE_TIMEOUT
from tlsagen.rollover.state import render

TIMEOUT = 2.0  # check --timeout
LIMIT = 15.0  # seconds a run may take: TIMEOUT, a few stub DNS queries, Python's start


@pytest.fixture(scope="module")
def resolver() -> Iterator[RogueDns]:
    """A stub resolver: every name has the address 127.0.0.1, and nothing else."""
    with rogue_dns(STUB) as server:
        yield server


def check(
    resolver: RogueDns, port: int, protocol: str, *more: str, timeout: float = TIMEOUT
) -> list[str]:
    options = ["--starttls", protocol, "--resolver", resolver.address(), "--timeout", str(timeout)]
    return ["check", f"mx.hostile.test:{port}", *more, *options]


def endless_smtp(talk: Conversation) -> None:
    while not talk.stop.is_set():
        talk.send(b"220-" + b"x" * 72 + b"\r\n")


def dripping_smtp(talk: Conversation) -> None:
    while not talk.stop.is_set():
        talk.drip(b"220-still greeting\r\n")


def endless_imap(talk: Conversation) -> None:
    talk.send(b"* OK IMAP4rev1 ready\r\n")
    talk.line()
    while not talk.stop.is_set():
        talk.send(b"* 1 EXISTS\r\n")


def escaping_smtp(talk: Conversation) -> None:
    talk.send(b"554 \x1b[2J\x1b]0;owned\x07 \x1b[31mtlsagen: all good\r\n")


def refusing_smtp(talk: Conversation) -> None:
    talk.smtp_until_starttls()
    talk.send(b"454 4.7.0 TLS not available due to local problem\r\n")


def dripping_tls(talk: Conversation) -> None:
    talk.drip(b"\x16\x03\x03\x00\x7a" + b"\x02" * 122)  # a ServerHello record, slowly


SERVERS = {"smtp": "SMTP server", "imap": "IMAP server", "none": "TLS server"}
CASES: dict[str, tuple[str, Script]] = {
    "endless multi-line greeting": ("smtp", endless_smtp),
    "greeting dripped, one byte at a time, never ending": ("smtp", dripping_smtp),
    "endless untagged lines after STARTTLS": ("imap", endless_imap),
    "TLS handshake dripped, one byte at a time": ("none", dripping_tls),
}


@pytest.mark.parametrize("fault", CASES)
def test_a_rogue_server_ends_within_the_timeout(
    fault: str, resolver: RogueDns, hostile: Hostile
) -> None:
    protocol, script = CASES[fault]
    with rogue_mail(script) as server:
        run = run_bounded(*check(resolver, server.port, protocol), limit=LIMIT * 2)
    hostile.expect(SERVERS[protocol], fault, "check", run, 4, LIMIT)
    assert f"port {server.port}" in run.err, run.err


def test_escape_sequences_in_a_banner_reach_no_terminal(
    resolver: RogueDns, hostile: Hostile
) -> None:
    with rogue_mail(escaping_smtp) as server:
        run = run_bounded(*check(resolver, server.port, "smtp"), limit=LIMIT * 2)
    hostile.expect("SMTP server", "escape sequences in the banner", "check", run, 4, LIMIT)
    assert "\x1b" not in run.out + run.err and "\x07" not in run.out + run.err
    assert "greeted with 554: \\x1b[2J\\x1b]0;owned\\x07" in run.err, run.err


def test_starttls_answered_454_is_a_failure(resolver: RogueDns, hostile: Hostile) -> None:
    with rogue_mail(refusing_smtp) as server:
        run = run_bounded(*check(resolver, server.port, "smtp"), limit=LIMIT * 2)
    hostile.expect("SMTP server", "STARTTLS answered 454", "check", run, 4, LIMIT)
    assert "STARTTLS was answered 454" in run.err, run.err


def test_an_unparsable_certificate_is_a_finding_and_the_other_target_is_reported(
    resolver: RogueDns, hostile: Hostile, tmp_path: Path
) -> None:
    bad = self_signed(tmp_path, "bad.hostile.test", version=3)
    good = self_signed(tmp_path, "good.hostile.test")

    def serving(cert: tuple[Path, Path]) -> Script:
        def script(talk: Conversation) -> None:
            talk.smtp_until_starttls()
            talk.send(b"220 go ahead\r\n")
            talk.tls(*cert)

        return script

    with rogue_mail(serving(bad)) as rogue, rogue_mail(serving(good)) as fine:
        other = f"mx.hostile.test:{fine.port}"  # a well-behaved server: given time on a busy CI
        args = check(resolver, rogue.port, "smtp", other, "--json", timeout=LIMIT / 2)
        run = run_bounded(*args, limit=LIMIT * 2)
    fault = "certificate with X.509 version 4 (a warning; the other target reported)"
    hostile.expect("SMTP server", fault, "check", run, 0, LIMIT)
    report = json.loads(run.out)
    texts = json.dumps(report)
    assert len(report["targets"]) == 2, texts
    assert "cannot be read" in texts and "not a valid X509 version" in texts, texts


@needs_provider("rfc2136")
def test_rollover_advance_holds_the_lock_no_longer_than_its_probe_timeout(
    resolver: RogueDns, hostile: Hostile, tmp_path: Path
) -> None:
    """The probe runs under the state lock: a dripping server must not keep it there."""
    with rogue_mail(dripping_smtp) as server:
        defaults = f"resolver = '{resolver.address()}'\n"
        service = f"ports = [{server.port}]\nstarttls = 'smtp'\n"
        config = site(tmp_path, resolver.address(), TIMEOUT, defaults, service)
        (tmp_path / "state.json").write_text(render({"mail": Memory(started=True)}))
        run = run_bounded("rollover", "advance", "--config", config, limit=PROBE_TIMEOUT * 4)
    fault, limit = "greeting dripped, under rollover", PROBE_TIMEOUT + LIMIT
    hostile.expect("SMTP server", fault, "rollover advance", run, 4, limit)
    assert server.connections > 0, "the server was not probed"
