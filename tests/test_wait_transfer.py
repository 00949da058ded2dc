"""The wait after a publish against real BIND (primary signing inline, its secondary): a
secondary that lets the provider's key transfer the zone is read by one transfer, and again only
once its SOA serial moved, never asked about an owner; a secondary that allows no transfer is
asked about each owner, and the wait still ends when it serves them all."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from tests.testbed.bind import start_secondary
from tests.testbed.model import DnsLab, Server
from tests.testbed.ports import free_port
from tests.testbed.probe import query
from tlsagen import config, engine, plans
from tlsagen.core.records import Owner, RRset
from tlsagen.net import dns as tlsagen_dns
from tlsagen.provider import Endpoint, Provider

pytest.importorskip("tlsagen_rfc2136")  # the transfer path is this provider's
from tlsagen_rfc2136 import provider as rfc2136_provider

HOSTS = 60  # x 2 ports: 120 owners, enough for a transfer to pay (rfc2136 AXFR_MIN_OWNERS)
EXAMPLE = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"


def write_config(tmp_path: Path, lab: DnsLab, label: str, servers: list[Server]) -> Path:
    zone = lab.bind
    hosts = ", ".join(f'"{label}-{i}.{zone.name}"' for i in range(HOSTS))
    nameservers = ", ".join(f'"{server.address()}"' for server in servers)
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        "[defaults]\nttl = 300\n"
        f"[providers.dns]\ntype = 'rfc2136'\nserver = '{zone.primary.host}'\n"
        f"port = {zone.primary.port}\nkey-file = '{zone.key.key_file}'\n"
        f"nameservers = [{nameservers}]\n"
        f"[[services]]\nname = 'wait'\nhosts = [{hosts}]\nports = [25, 443]\n"
        f"cert = '{EXAMPLE}'\n"
    )
    return path


def owner_queries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Endpoint, Owner]]:
    """The (server, owner) pairs the wait asks about, one by one."""
    asked: list[tuple[Endpoint, Owner]] = []
    real = tlsagen_dns.tlsa_answer

    def tlsa_answer(server: Endpoint, owner: Owner) -> tuple[RRset | None, str]:
        asked.append((server, owner))
        return real(server, owner)

    monkeypatch.setattr(tlsagen_dns, "tlsa_answer", tlsa_answer)
    return asked


@pytest.fixture
def refusing(dns_lab: DnsLab, tmp_path: Path) -> Iterator[Server]:
    """A second BIND secondary of the lab's zone that allows no zone transfer. The primary does
    not notify it: `notify` does."""
    zone = dns_lab.bind
    with start_secondary(
        tmp_path / "refusing", free_port(), zone.name, zone.key, zone.primary.port, "none"
    ) as proc:
        proc.wait_until(
            lambda: query(proc.server, zone.name, "SOA", timeout=0.2).rcode() == 0 or None,
            "serve the zone",
        )
        yield proc.server


def notify(server: Server, zone: str) -> None:
    """Tell `server` its zone changed (a NOTIFY, as a primary sends): it transfers it again."""
    message = dns.message.make_query(zone, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = dns.flags.AA
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(message.to_wire(), (server.host, server.port))
        assert dns.message.from_wire(sock.recv(512)).rcode() == dns.rcode.NOERROR


@pytest.fixture(autouse=True)
def transfers_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's zone holds what every test before this one wrote: let a transfer carry it
    all for these owners (the provider queries each owner of a zone too large for the read)."""
    monkeypatch.setattr(rfc2136_provider, "AXFR_RECORDS_PER_OWNER", 1000)


def publish(path: Path) -> tuple[engine.Plan, dict[str, Provider]]:
    loaded = config.load(path)
    providers = engine.open_providers(loaded, ["dns"])
    plan = engine.make_plan(loaded, providers, datetime.now(UTC))
    engine.apply(plan, providers)
    return plan, providers


def test_a_secondary_allowing_transfers_is_read_whole_never_owner_by_owner(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, secondary = dns_lab.bind.servers
    plan, providers = publish(write_config(tmp_path, dns_lab, fresh_host, [primary, secondary]))
    asked = owner_queries(monkeypatch)
    reports = engine.wait_for_servers(plan, providers, timeout=30)
    assert [r.state for r in reports] == [plans.SERVING, plans.SERVING]
    assert asked == []  # the primary confirmed by the provider, the secondary by transfers
    owners = [item.owner for item in plan.owners]
    provider, zone = providers["dns"], dns_lab.bind.name
    at_secondary = Endpoint(secondary.host, secondary.port)
    assert provider.served(zone, at_secondary, owners) == provider.read(zone, owners)
    assert provider.served(zone, at_secondary, owners[:2]) is None  # two queries cost less


def test_a_secondary_refusing_transfers_is_asked_about_each_owner(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    monkeypatch: pytest.MonkeyPatch,
    refusing: Server,
) -> None:
    primary, secondary = dns_lab.bind.servers
    path = write_config(tmp_path, dns_lab, fresh_host, [primary, secondary, refusing])
    plan, providers = publish(path)
    asked = owner_queries(monkeypatch)
    notify(refusing, dns_lab.bind.name)
    reports = engine.wait_for_servers(plan, providers, timeout=30)
    assert all(r.state == plans.SERVING for r in reports) and len(reports) == 3
    at_refusing = Endpoint(refusing.host, refusing.port)
    assert {server for server, _ in asked} == {at_refusing}
    assert {owner for _, owner in asked} == {item.owner for item in plan.owners}
    owners = [item.owner for item in plan.owners]
    assert providers["dns"].served(dns_lab.bind.name, at_refusing, owners) is None
