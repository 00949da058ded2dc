"""End to end from the CLI with the PowerDNS provider: `plan` -> `publish` -> `check` through the
zone pdns_server signs live, resolved and validated by an Unbound that trusts that zone's DS, and
the certbot rollover of tests/test_rollover_e2e.py with PowerDNS in BIND's place."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.flags
import dns.rdatatype
import pytest

from tests import test_rollover_e2e as rollover
from tests.helpers import Run
from tests.testbed import unbound
from tests.testbed.acme import Pebble
from tests.testbed.model import DnsLab
from tests.testbed.postfix import PostfixLab
from tests.testbed.powerdns import PowerDns, admin
from tests.testbed.probe import query
from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.net import dns as tdns
from tlsagen.provider import Endpoint

KEY_ENV = "TLSAGEN_TEST_PDNS_KEY"
mail_server = rollover.mail_server  # a Postfix of the rollover test's own
EXAMPLE = Path(__file__).parents[3] / "docs/examples/mx.example.com/fullchain.pem"


def provider_table(lab: PowerDns) -> str:
    return (
        f"[providers.pdns]\ntype = 'powerdns'\napi-url = '{lab.api_url}'\n"
        f"api-key = 'env:{KEY_ENV}'\nserver = '{lab.dns.address()}'\ntimeout = 5\n\n"
    )


def served(lab: PowerDns, owner: Owner) -> set[str]:
    """What pdns_server serves at owner."""
    held = tdns.tlsa_at(Endpoint(lab.dns.host, lab.dns.port), owner)
    return set(held.texts()) if held else set()


def validated(lab: PowerDns, owner: Owner) -> set[str]:
    """What the validating resolver answers at owner, from a flushed cache; AssertionError
    unless the answer is DNSSEC-secure (AD)."""
    unbound.control(lab.config_dir / "unbound", "flush_zone", lab.zone)
    response = query(lab.resolver, owner.name, "TLSA", recurse=True)
    assert response.flags & dns.flags.AD, response
    return {
        f"{rd.usage} {rd.selector} {rd.mtype} {rd.cert.hex()}"
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TLSA
        for rd in rrset
    }


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `tlsagen ARGS...` in-process."""

    def run(*args: str | Path) -> Run:
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def test_plan_publish_check_through_the_signed_zone(
    powerdns: PowerDns,
    postfix_lab: PostfixLab,
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, powerdns.api_key)
    host, port = f"mx1.{powerdns.zone}", postfix_lab.starttls_port
    chains = [postfix_lab.rsa.pem_file, postfix_lab.ecdsa.pem_file]
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nresolver = '{powerdns.resolver.address()}'\n"
        f"state = '{tmp_path / 'state.json'}'\n\n{provider_table(powerdns)}"
        f"[[services]]\nname = 'mail'\nhosts = ['{host}']\nports = [{port}]\n"
        f"cert = {json.dumps([str(path) for path in chains])}\n"
    )
    owner = Owner.for_service(host, port)
    wanted = {compute(material.read_source(str(p)), Params(3, 1, 1)).to_text() for p in chains}

    assert cli("plan", "--config", config, "--exit-code").code == 8
    done = cli("publish", "--config", config)
    assert done.code == 0, done.err
    assert f"{powerdns.dns.address()}: serves all planned records" in done.out
    assert served(powerdns, owner) == wanted
    assert validated(powerdns, owner) == wanted
    assert cli("plan", "--config", config, "--exit-code").code == 0

    # --nameserver: until `check` asks each provider for its servers (issue 14), it reads only
    # rfc2136's `nameservers`; the NS records name port 53, where no pdns_server listens here.
    checking = ["--config", config, "--nameserver", powerdns.dns.address()]
    run = cli("check", *checking, "--starttls", "smtp", "--json")
    assert run.code == 0, run.err
    report: dict[str, Any] = json.loads(run.out)
    (target,) = report["targets"]
    (checked,) = target["hosts"]
    assert checked["host"] == host
    assert checked["tlsa"]["status"] == "secure" and set(checked["tlsa"]["values"]) == wanted
    (server,) = checked["servers"]
    assert server["server"] == powerdns.dns.address() and server["signed"] is True
    assert {live["matched"] for probe in checked["probes"] for live in probe["live"]} == wanted
    assert powerdns.api_key not in run.out + run.err + done.out + done.err


class PowerDnsSetup(rollover.Setup):
    """The rollover test's setup with the service in the PowerDNS zone, published by the
    powerdns provider: `served` is what pdns_server serves and what the resolver validates."""

    lab_pdns: PowerDns

    def __init__(self, root: Path, lab: DnsLab, pebble: Pebble, postfix: PostfixLab) -> None:
        super().__init__(root, lab, pebble, postfix)
        self.owner = Owner.for_service(f"mail.{self.lab_pdns.zone}", self.port)

    def write_config(self) -> Path:
        path = super().write_config()
        text = path.read_text()
        head, _, rest = text.partition("[providers.dns]")
        services = rest[rest.index("[[services]]") :]
        services = services.replace(rollover.HOST, f"mail.{self.lab_pdns.zone}".rstrip("."))
        head = head.replace(self.lab.resolver.address(), self.lab_pdns.resolver.address())
        path.write_text(head + provider_table(self.lab_pdns) + services)
        return path

    def served(self) -> list[set[str]]:
        return [served(self.lab_pdns, self.owner), validated(self.lab_pdns, self.owner)]


def test_certbot_rollover_through_powerdns(
    dns_lab: DnsLab,
    powerdns: PowerDns,
    pebble: Pebble,
    mail_server: PostfixLab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/test_rollover_e2e.py's first test, its two servers being pdns_server itself and
    the resolver that validates its signed answers."""
    monkeypatch.setenv(KEY_ENV, powerdns.api_key)  # the certbot hook and `advance` inherit it
    monkeypatch.setattr(PowerDnsSetup, "lab_pdns", powerdns, raising=False)
    monkeypatch.setattr(rollover, "Setup", PowerDnsSetup)
    rollover.test_certbot_renewal_is_staged_then_deployed_to_postfix_then_retired(
        dns_lab, pebble, mail_server, tmp_path
    )


def test_tlsagen_providers_lists_powerdns(cli: Callable[..., Run]) -> None:
    run = cli("providers")
    assert run.code == 0 and "powerdns" in run.out and "tlsagen-powerdns 0.1.0" in run.out


def test_a_wrong_key_is_exit_4_and_shows_no_key(
    powerdns: PowerDns, cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-key-that-must-not-show-0123"
    monkeypatch.setenv(KEY_ENV, wrong)
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"{provider_table(powerdns)}[[services]]\nname = 'mail'\n"
        f"hosts = ['mx2.{powerdns.zone}']\ncert = '{EXAMPLE}'\n"
    )
    for args in (["publish"], ["--debug", "publish"]):
        run = cli(*args, "--config", config)
        assert run.code == 4, run.err
        assert "refused the API key (HTTP 401)" in run.err
        assert wrong not in run.out + run.err and powerdns.api_key not in run.out + run.err


def test_publish_replaces_a_disabled_record(
    powerdns: PowerDns, cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disabled record (stored, not served) at the owner: plan shows a change, publish
    replaces the RRset with the planned one."""
    monkeypatch.setenv(KEY_ENV, powerdns.api_key)
    host = f"disabled.{powerdns.zone}"
    owner = Owner.for_service(host, 25)
    wanted = compute(material.read_source(str(EXAMPLE)), Params(3, 1, 1)).to_text()
    records = [{"content": wanted, "disabled": False}]
    records.append({"content": "3 1 1 " + "ab" * 32, "disabled": True})
    rrset = {"name": owner.name, "type": "TLSA", "changetype": "REPLACE", "ttl": 60}
    admin(powerdns, "PATCH", f"/zones/{powerdns.zone}", {"rrsets": [{**rrset, "records": records}]})
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"{provider_table(powerdns)}[[services]]\nname = 'mail'\n"
        f"hosts = ['{host}']\ncert = '{EXAMPLE}'\n"
    )
    plan = cli("plan", "--config", config, "--exit-code")
    assert plan.code == 8, plan.err
    assert f"{owner.name} (mail, zone {powerdns.zone}, provider pdns): update" in plan.out
    done = cli("publish", "--config", config)
    assert done.code == 0, done.err
    zone = admin(powerdns, "GET", f"/zones/{powerdns.zone}")
    (stored,) = [r for r in zone["rrsets"] if r["name"] == owner.name and r["type"] == "TLSA"]
    assert stored["records"] == [{"content": wanted, "disabled": False}]
