"""`tlsagen publish` through the RFC 2136 provider while a DNS server misbehaves at one step.

The provider's `server` is a FaultyDns proxy in front of the zone's real primary (BIND with inline
signing, or Knot), and the first of `nameservers` another one in front of the last server of the
zone; a rule spoils the messages of one step. Every case starts from two owners holding the old
RRset, plans to add the next key's record to both (one UPDATE), and checks: the exit code and
its one-line message, that the zone holds the old or the new RRset at both owners (never one of
each), that a record outside the change survives, and that a re-run without the fault converges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.opcode
import dns.rcode
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
from tests.testbed import DnsLab, Server, Zone
from tests.testbed.faulty import (
    DOWN,
    EMPTY,
    GARBAGE,
    HANG,
    RCODE,
    SLOW,
    TRUNCATED,
    WRONG_ID,
    FaultyDns,
    Rule,
)
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.net import dns as tdns
from tlsagen.provider import Endpoint, ProviderSettings

pytest.importorskip("tlsagen_rfc2136")  # a fault test of the CLI with this provider
from tlsagen_rfc2136 import create, transport

DISCOVER = "zone discovery"
READ = "read"
APPLY = "apply"
CONFIRM = "apply: read back"
WAIT = "propagation wait"
STEPS: dict[str, dict[str, Any]] = {  # which messages a step sends (to `server`; WAIT: to ns)
    DISCOVER: {"opcode": dns.opcode.QUERY, "qtype": "SOA", "after_update": False},
    READ: {"opcode": dns.opcode.QUERY, "qtype": "TLSA", "after_update": False},
    APPLY: {"opcode": dns.opcode.UPDATE},
    CONFIRM: {"opcode": dns.opcode.QUERY, "qtype": "TLSA", "after_update": True},
    WAIT: {"opcode": dns.opcode.QUERY},
}
AFTER = {"forward_first": True}  # the server acts on the request; its answer is spoiled
FAULTS: dict[str, dict[str, Any]] = {
    "server goes away": {"action": DOWN},
    "server hangs": {"action": HANG},
    "slow answer (0.2 s)": {"action": SLOW, "delay": 0.2},
    "garbage answer": {"action": GARBAGE},
    "truncated answer (UDP, then TCP)": {"action": TRUNCATED},
    "answer under a wrong message id": {"action": WRONG_ID},
    "stale answer (no records)": {"action": EMPTY},
    "answer lost after the server applied it": {"action": HANG, **AFTER},
    "garbage answer after the server applied it": {"action": GARBAGE, **AFTER},
    "truncated answer after the server applied it": {"action": TRUNCATED, **AFTER},
    "server goes away after it applied it": {"action": DOWN, **AFTER},
    **{
        rcode: {"action": RCODE, "rcode": dns.rcode.from_text(rcode)}
        for rcode in ("SERVFAIL", "REFUSED", "NOTAUTH", "FORMERR", "NOTIMP", "NXDOMAIN", "YXRRSET")
    },
}
TIMEOUT = 0.5  # the provider's, per message


@dataclass(frozen=True)
class Case:
    server: str  # "bind" or "knot"
    step: str
    fault: str
    code: int
    held: str

    @property
    def id(self) -> str:
        return case_id(self.server, self.step, self.fault)


def cases(
    server: str, step: str, expected: dict[str, tuple[int, str]], core: set[str]
) -> list[Any]:
    """The step's cases; those not in `core` run only with the long fault tests."""
    return [
        pytest.param(case, id=case.id, marks=() if fault in core else long_run)
        for fault, outcome in expected.items()
        for case in [Case(server, step, fault, *outcome)]
    ]


CASES = [
    *cases(
        "bind",
        DISCOVER,
        {
            "server goes away": (4, OLD),
            "server hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),
            "truncated answer (UDP, then TCP)": (4, OLD),
            "answer under a wrong message id": (4, OLD),
            "SERVFAIL": (0, NEW),  # not authoritative: the zone is found through the resolver
            "REFUSED": (0, NEW),
        },
        core={"server goes away", "SERVFAIL"},
    ),
    *cases(
        "bind",
        READ,
        {
            "server goes away": (4, OLD),
            "server hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),
            "truncated answer (UDP, then TCP)": (4, OLD),
            "answer under a wrong message id": (4, OLD),
            "stale answer (no records)": (4, OLD),  # unsigned: the signed read refuses it
            "SERVFAIL": (4, OLD),
            "REFUSED": (4, OLD),
            "NXDOMAIN": (4, OLD),
        },
        core={"server hangs", "garbage answer", "stale answer (no records)"},
    ),
    *cases(
        "bind",
        APPLY,
        {
            "server goes away": (4, OLD),
            "server hangs": (4, OLD),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, OLD),
            "truncated answer (UDP, then TCP)": (4, OLD),
            "SERVFAIL": (4, OLD),
            "REFUSED": (4, OLD),
            "NOTAUTH": (4, OLD),
            "FORMERR": (4, OLD),
            "NOTIMP": (4, OLD),
            "YXRRSET": (4, OLD),  # unsigned: not the server's word
            "answer under a wrong message id": (0, NEW),
            "answer lost after the server applied it": (0, NEW),
            "garbage answer after the server applied it": (0, NEW),
            "truncated answer after the server applied it": (0, NEW),
            "server goes away after it applied it": (4, EITHER),
        },
        core={
            "server goes away",
            "server hangs",
            "REFUSED",
            "answer lost after the server applied it",
            "garbage answer after the server applied it",
            "server goes away after it applied it",
        },
    ),
    *cases(
        "bind",
        CONFIRM,
        {
            "server goes away": (0, NEW),
            "server hangs": (0, NEW),
            "garbage answer": (0, NEW),
            "stale answer (no records)": (0, NEW),
            "SERVFAIL": (0, NEW),
        },
        core={"server hangs"},
    ),
    *cases(
        "bind",
        WAIT,
        {
            "server goes away": (4, NEW),
            "server hangs": (4, NEW),
            "slow answer (0.2 s)": (0, NEW),
            "garbage answer": (4, NEW),
            "stale answer (no records)": (4, NEW),
            "SERVFAIL": (4, NEW),
        },
        core={"stale answer (no records)"},
    ),
    *cases(
        "knot", READ, {"stale answer (no records)": (4, OLD)}, core={"stale answer (no records)"}
    ),
    *cases(
        "knot",
        APPLY,
        {
            "server hangs": (4, OLD),
            "answer under a wrong message id": (0, NEW),
            "answer lost after the server applied it": (0, NEW),
            "garbage answer after the server applied it": (0, NEW),
            "server goes away after it applied it": (4, EITHER),
        },
        core={"answer lost after the server applied it"},
    ),
    *cases("knot", CONFIRM, {"server hangs": (0, NEW)}, core=set()),
    *cases("knot", WAIT, {"stale answer (no records)": (4, NEW)}, core=set()),
]


class Site:
    """Two owners and a bystander in a real zone, published through the proxies."""

    def __init__(self, directory: Path, lab: DnsLab, zone: Zone, label: str) -> None:
        self.dir, self.lab, self.zone = directory, lab, zone
        self.hosts = [f"{label}a.{zone.name}", f"{label}b.{zone.name}"]
        self.owners = [Owner.for_service(host, 25) for host in self.hosts]
        self.bystander = Owner.for_service(f"{label}keep.{zone.name}", 25)

    def config(self, server: str, nameservers: list[str]) -> Path:
        path = self.dir / "tlsagen.toml"
        path.write_text(
            f"[defaults]\nttl = 60\nresolver = '{self.lab.resolver.address()}'\n"
            f"state = '{self.dir / 'state.json'}'\n\n"
            f"[providers.dns]\ntype = 'rfc2136'\nserver = '{server}'\n"
            f"key-file = '{self.zone.key.key_file}'\nnameservers = {nameservers}\n"
            f"timeout = {TIMEOUT}\n\n"
            f"[[services]]\nname = 'mail'\nhosts = {self.hosts}\ncert = '{CERT}'\n"
            f"next-key = '{NEXT_KEY}'\n"
        )
        return path

    def seed(self) -> None:
        """The old RRset (the current certificate's record) at both owners and the bystander."""
        settings = {"server": self.zone.primary.address(), "key-file": str(self.zone.key.key_file)}
        provider = create(ProviderSettings("seed", settings, "seed", Path("/")))
        old = [TLSAData.from_text(record_of(CERT))]
        changes = tuple(
            Change(owner, None, rrset(owner, 60, old)) for owner in (*self.owners, self.bystander)
        )
        provider.apply(ChangeSet(self.zone.name, changes))

    def held(self, server: Server) -> str:
        """What `server` serves at the two owners: OLD or NEW, never one of each."""
        return held_state(served(Endpoint(server.host, server.port), self.owners))

    def bystander_intact(self) -> bool:
        found = tdns.tlsa_at(
            Endpoint(self.zone.primary.host, self.zone.primary.port), self.bystander
        )
        return found is not None and found.texts() == [record_of(CERT)]


@pytest.fixture(scope="module")
def proxies(dns_lab: DnsLab) -> Iterator[dict[str, tuple[FaultyDns, FaultyDns]]]:
    """Per zone: a proxy in front of its primary, another in front of its last server."""
    made = {
        name: (FaultyDns(zone.primary), FaultyDns(zone.servers[-1]))
        for name, zone in (("bind", dns_lab.bind), ("knot", dns_lab.knot))
    }
    yield made
    for pair in made.values():
        for proxy in pair:
            proxy.close()


def publish(capsys: pytest.CaptureFixture[str], config: Path, timeout: float) -> Run:
    return run_cli(capsys, "publish", "--config", config, "--timeout", str(timeout))


@pytest.mark.parametrize("case", CASES)
def test_publish_through_a_faulty_server(
    case: Case,
    dns_lab: DnsLab,
    proxies: dict[str, tuple[FaultyDns, FaultyDns]],
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    monkeypatch.setattr(transport, "BACKOFF", 0.01)
    zone: Zone = getattr(dns_lab, case.server)
    primary, last = proxies[case.server]
    site = Site(tmp_path, dns_lab, zone, fresh_host)
    site.seed()
    config = site.config(primary.address(), [last.address(), zone.primary.address()])
    spoiled = last if case.step == WAIT else primary
    spoiled.spoil(Rule(**STEPS[case.step], **FAULTS[case.fault]))
    try:
        run = publish(capsys, config, 1 if case.step == WAIT else 20)
    finally:
        primary.heal()
        last.heal()
    provider = f"rfc2136 ({'BIND' if case.server == 'bind' else 'Knot'})"
    line = faults.expect(provider, case.step, case.fault, run, case.code, case.held)
    assert case.held != EITHER or (line is not None and "it may have been applied" in line)
    held = site.held(zone.primary)
    assert held == case.held or case.held == EITHER, run.err
    assert site.bystander_intact()
    rerun = publish(capsys, config, 20)
    assert rerun.code == 0, rerun.err
    assert all(site.held(server) == NEW for server in zone.servers)
