"""tlsagen against rogue DNS servers: a resolver for `check`, an RFC 2136 primary for `plan` and
`publish`. Truncated over UDP then a TCP connection closed without an answer (BIND and Unbound at
their TCP client limit), an answer dripped a byte at a time, garbage, records for other owners.
Each run is a process of its own with a wall-clock limit and its peak memory measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import needs_provider
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
    site,
)

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


# --- an RFC 2136 primary -------------------------------------------------------------------------


PRIMARY_FAULTS = {
    ("plan", "truncated over UDP, then TCP closed without an answer"): CLOSE,
    ("plan", "answer over TCP dripped, one byte at a time"): DRIPPING,
    ("plan", "garbage over UDP and TCP"): GARBAGE,
    ("publish", "the UPDATE's answer dripped, one byte at a time"): UPDATE_DRIP,
}


@needs_provider("rfc2136")
@pytest.mark.parametrize(("command", "fault"), PRIMARY_FAULTS, ids=lambda part: str(part))
def test_a_rogue_primary_is_a_dns_failure(
    command: str, fault: str, hostile: Hostile, tmp_path: Path
) -> None:
    with rogue_dns(PRIMARY_FAULTS[(command, fault)]) as server:
        config = site(tmp_path, server.address(), TIMEOUT)
        run = run_bounded(command, "--config", config, "--json", limit=LIMIT * 2)
    hostile.expect("RFC 2136 primary", fault, command, run, 4, LIMIT)
    assert server.address() in run.err, run.err
