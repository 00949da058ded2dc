"""tlsagen against rogue DNS servers: a resolver for `check`, an RFC 2136 primary for `plan` and
`publish`. Truncated over UDP then a TCP connection closed without an answer (BIND and Unbound at
their TCP client limit), an answer dripped a byte at a time, garbage, records for other owners.
Each run is a process of its own with a wall-clock limit and its peak memory measured."""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path

import dns.message
import dns.rrset
import pytest

from tests.hostile.conftest import Hostile
from tests.hostile.rogue import (
    CLOSE,
    DRIPPING,
    GARBAGE,
    OTHER_OWNERS,
    UPDATE_DRIP,
    Conversation,
    rogue_dns,
    rogue_mail,
    run_bounded,
)
from tlsagen.errors import ProviderError
from tlsagen.lookup import Resolver
from tlsagen.provider import Endpoint

ROOT = Path(__file__).parents[2]
CERT = ROOT / "docs/examples/mx.example.com/fullchain.pem"
NEXT_KEY = ROOT / "docs/examples/next.key"
TIMEOUT = 1.0  # check --timeout, and the provider's timeout
LIMIT = 20.0  # seconds a run may take: a few queries of TIMEOUT each, retries, Python's start

RESOLVER_FAULTS = {
    "truncated over UDP, then TCP closed without an answer": CLOSE,
    "answer over TCP dripped, one byte at a time": DRIPPING,
    "garbage over UDP and TCP": GARBAGE,
}


@pytest.mark.parametrize("fault", RESOLVER_FAULTS)
def test_a_rogue_resolver_is_a_dns_failure(fault: str, hostile: Hostile) -> None:
    with rogue_dns(RESOLVER_FAULTS[fault]) as server:
        args = ["check", "mx.hostile.test:2525", "--resolver", server.address()]
        run = run_bounded(*args, "--timeout", str(TIMEOUT), limit=LIMIT * 2)
    hostile.expect("resolver", fault, "check", run, 4, LIMIT)
    assert f"no answer from resolver {server.address()}" in run.err, run.err


def test_records_for_other_owners_are_not_used(hostile: Hostile) -> None:
    def greet(talk: Conversation) -> None:
        talk.send(b"220 should never be reached\r\n")

    with rogue_dns(OTHER_OWNERS) as server, rogue_mail(greet) as mail:
        args = ["check", "hostile.test", "--mx", "--port", str(mail.port), "--json"]
        run = run_bounded(*args, "--resolver", server.address(), limit=LIMIT * 2)
    hostile.expect("resolver", "MX, A and TLSA records at another owner", "check", run, 4, LIMIT)
    assert mail.connections == 0
    assert "victim" not in run.out + run.err
    assert "hostile.test. has no MX records" in run.err, run.err


def answer_of(query: str, rdtype: str, *rrsets: tuple[str, str, str]) -> dns.message.Message:
    response = dns.message.make_response(dns.message.make_query(query, rdtype))
    for owner, kind, data in rrsets:
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", kind, data))
    return response


@pytest.mark.parametrize(
    ("rrsets", "expected"),
    [
        ([("other.test.", "A", "192.0.2.9")], []),
        ([("a.test.", "CNAME", "b.test."), ("b.test.", "A", "192.0.2.1")], ["192.0.2.1"]),
        ([("a.test.", "CNAME", "b.test."), ("c.test.", "A", "192.0.2.9")], []),
        ([("a.test.", "CNAME", "b.test."), ("b.test.", "CNAME", "a.test.")], []),
        ([("other.test.", "A", "192.0.2.9"), ("a.test.", "A", "192.0.2.1")], ["192.0.2.1"]),
    ],
    ids=["other owner", "CNAME chain", "CNAME to elsewhere", "CNAME loop", "both"],
)
def test_a_resolver_answer_is_used_for_the_name_asked_only(
    monkeypatch: pytest.MonkeyPatch, rrsets: list[tuple[str, str, str]], expected: list[str]
) -> None:
    resolver = Resolver(Endpoint("127.0.0.1", 53), 1.0)
    reply = answer_of("a.test.", "A", *rrsets)
    monkeypatch.setattr(resolver, "_send", lambda *args, **kwargs: reply)
    assert resolver.query("a.test.", "A").values() == expected


def test_udp_then_tcp_share_one_deadline() -> None:
    from tlsagen.dns import udp_then_tcp

    query = dns.message.make_query("mx.hostile.test.", "TLSA")
    with rogue_dns(DRIPPING) as server:
        endpoint = Endpoint("127.0.0.1", server.port)
        started = time.monotonic()
        with pytest.raises(ProviderError):
            udp_then_tcp(query, endpoint, 1.5)
        assert time.monotonic() - started < 2.0


# --- an RFC 2136 primary -------------------------------------------------------------------------


def site(tmp_path: Path, server: str) -> Path:
    """A configuration whose one service publishes through the rogue server."""
    key = tmp_path / "tsig.key"
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    key.write_text(f'key "tlsagen." {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n')
    key.chmod(0o600)
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"[providers.rogue]\ntype = 'rfc2136'\nserver = '{server}'\nzone = 'hostile.test'\n"
        f"key-file = '{key}'\nnameservers = ['{server}']\ntimeout = {TIMEOUT}\n\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx.hostile.test']\ncert = '{CERT}'\n"
        f"next-key = '{NEXT_KEY}'\n"
    )
    return config


PRIMARY_FAULTS = {
    ("plan", "truncated over UDP, then TCP closed without an answer"): CLOSE,
    ("plan", "answer over TCP dripped, one byte at a time"): DRIPPING,
    ("plan", "garbage over UDP and TCP"): GARBAGE,
    ("publish", "the UPDATE's answer dripped, one byte at a time"): UPDATE_DRIP,
}


@pytest.mark.parametrize(("command", "fault"), PRIMARY_FAULTS, ids=lambda part: str(part))
def test_a_rogue_primary_is_a_dns_failure(
    command: str, fault: str, hostile: Hostile, tmp_path: Path
) -> None:
    with rogue_dns(PRIMARY_FAULTS[(command, fault)]) as server:
        config = site(tmp_path, server.address())
        run = run_bounded(command, "--config", config, "--json", limit=LIMIT * 2)
    hostile.expect("RFC 2136 primary", fault, command, run, 4, LIMIT)
    assert server.address() in run.err, run.err
