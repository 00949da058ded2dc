"""`tlsagen rollover` and the renewal hooks end to end against the real BIND primary + secondary
of the testbed (signed zone, TSIG), with a TTL of 2 s and a margin of 1 s (gate: 5 s)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed.acme import CertDir, LocalCA, new_key, recording_reload, reloads
from tests.testbed.model import DnsLab, Server, Zone
from tlsagen import engine
from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.net import dns
from tlsagen.provider import Endpoint
from tlsagen.rollover import deploy

TTL, MARGIN = 2, 1
GATE = 2 * TTL + MARGIN


def tlsa(path: Path) -> str:
    return compute(material.read_source(str(path)), Params(3, 1, 1)).to_text()


class Site:
    """A tlsagen.toml for one host of the BIND zone, an ACME client's files, deploy paths."""

    def __init__(self, tmp_path: Path, zone: Zone, host: str, layout: str = "certbot") -> None:
        self.dir, self.zone = tmp_path, zone
        self.host = f"{host}.{zone.name}"
        self.owner = Owner.for_service(self.host, 25)
        self.acme = CertDir(tmp_path / "acme", self.host.rstrip("."), layout, LocalCA())
        self.server = tmp_path / "server"
        self.log = tmp_path / "reloads.log"
        self.deploys = True
        self.state = tmp_path / "state" / "state.json"
        self.params = "3 1 1"

    def write(self) -> Path:
        nameservers = ", ".join(f'"{s.address()}"' for s in self.zone.servers)
        source = self.acme.fullchain if self.acme.layout == "acme.sh" else self.acme.dir
        deploy = (
            f'deploy = {{ cert = "{self.server / "fullchain.pem"}", key = '
            f'"{self.server / "key.pem"}", reload = {json.dumps(recording_reload(self.log))} }}\n'
            if self.deploys
            else ""
        )
        path = self.dir / "tlsagen.toml"
        path.write_text(
            f'[defaults]\nttl = {TTL}\nmargin = {MARGIN}\nstate = "{self.state}"\n'
            f'params = ["{self.params}"]\n\n'
            "[providers.dns]\ntype = 'rfc2136'\n"
            f"server = '{self.zone.primary.host}'\nport = {self.zone.primary.port}\n"
            f"key-file = '{self.zone.key.key_file}'\nnameservers = [{nameservers}]\ntimeout = 3\n\n"
            f"[[services]]\nname = 'mail'\nhosts = ['{self.host}']\ncert = '{source}'\n"
            f"probe = false\n{deploy}"
        )
        return path

    def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = main([*args, "--config", str(self.write())])
        out, err = capsys.readouterr()
        return code, out, err

    def served(self) -> list[set[str]]:
        """What each server (primary, secondary) serves."""
        found = []
        for server in self.zone.servers:
            held = dns.tlsa_at(Endpoint(server.host, server.port), self.owner)
            found.append(set(held.texts()) if held else set())
        return found

    def installed(self) -> str | None:
        cert = self.server / "fullchain.pem"
        return tlsa(cert) if cert.exists() else None


@pytest.fixture
def site(dns_lab: DnsLab, tmp_path: Path, fresh_host: str) -> Site:
    found = Site(tmp_path, dns_lab.bind, fresh_host)
    found.acme.issue(new_key())
    return found


@pytest.fixture
def no_hook_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RENEWED_LINEAGE", "RENEWED_DOMAINS", "CERT_PATH", "CERT_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    yield


def test_staged_renewal_from_status_to_retire(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    code, out, _ = site.run(capsys, "rollover", "status", "--json")
    assert code == 0
    (service,) = json.loads(out)["services"]
    assert [s["role"] for s in service["slots"]] == ["staged"] and service["managed"]
    assert [s["step"] for s in service["steps"]] == ["publish", "deploy"]
    assert [s["gate"]["refused"] for s in service["steps"]] == [False, False]

    code, out, err = site.run(capsys, "rollover", "advance")
    first = tlsa(site.acme.fullchain)
    assert code == 0, err  # the deploy waits for its time: that is no refusal
    assert "error" not in err and "deploy waits until" in out and " UTC (in " in out
    assert site.served() == [{first}, {first}] and site.installed() is None
    code, out, err = site.run(capsys, "rollover", "advance", "--exit-code")
    assert code == 8 and "deploy waits until" in out, err
    assert "\nchanges pending: 1 step(s) wait" in err and " UTC (in " in err
    time.sleep(GATE + 0.5)
    code, out, err = site.run(capsys, "rollover", "advance")
    assert code == 0, err
    assert "mail: deployed and reloaded" in out and site.installed() == first
    assert reloads(site.log) == 1

    site.acme.issue(new_key())  # a renewal with a new key: staged
    second = tlsa(site.acme.fullchain)
    code, out, err = site.run(capsys, "rollover", "advance")
    assert code == 0 and site.installed() == first, err
    assert site.served() == [{first, second}] * 2
    code, out, _ = site.run(capsys, "rollover", "status")
    assert "staged" in out and "deploy: waits until" in out and "(in " in out
    time.sleep(GATE + 0.5)
    code, out, err = site.run(capsys, "rollover", "advance", "--exit-code")
    assert code == 8 and site.installed() == second, err  # deployed; retiring waits a TTL
    assert "retire waits until" in out
    time.sleep(TTL + 0.5)
    code, out, err = site.run(capsys, "rollover", "advance", "--exit-code")
    assert code == 0, err
    assert site.served() == [{second}] * 2

    serial = dns.soa_serial(
        Endpoint(site.zone.primary.host, site.zone.primary.port), "example.test."
    )
    written = site.state.stat().st_mtime_ns
    started = time.monotonic()
    code, out, err = site.run(capsys, "rollover", "advance")
    assert code == 0 and time.monotonic() - started < 1.0, err
    assert site.state.stat().st_mtime_ns == written
    assert serial == dns.soa_serial(
        Endpoint(site.zone.primary.host, site.zone.primary.port), "example.test."
    )
    assert reloads(site.log) == 2


def test_new_params_for_a_service_under_rollover_replace_the_old_ones_at_once(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    """`3 0 1` -> `3 1 1` (as tlsagen's lint recommends) once the key is live: the new records
    cover the same key, so the old ones go in the same run, not refused as a live key's."""
    site.params = "3 0 1"
    assert site.run(capsys, "rollover", "advance")[0] == 0
    time.sleep(GATE + 0.5)
    code, out, err = site.run(capsys, "rollover", "advance")
    assert code == 0 and "mail: deployed and reloaded" in out, err
    time.sleep(TTL + 0.5)  # the deployed key has been live for a TTL
    site.params = "3 1 1"
    code, out, err = site.run(capsys, "rollover", "advance")
    assert code == 0, err
    assert site.served() == [{tlsa(site.acme.fullchain)}] * 2


def test_start_generates_a_next_key_that_publish_keeps(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    site.deploys = False
    current = tlsa(site.acme.fullchain)
    code, _, err = site.run(capsys, "rollover", "start", "mail")
    assert code == 0, err
    generated = site.state.parent / "keys" / "mail.next.key"
    assert f"generated next key {generated} (EC P-256)" in err
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600
    upcoming = tlsa(generated)
    assert site.served() == [{current, upcoming}] * 2
    code, _, err = site.run(capsys, "publish")
    assert code == 0 and site.served() == [{current, upcoming}] * 2, err
    code, _, err = site.run(capsys, "rollover", "start", "mail", "--key-type", "rsa2048")
    assert code == 0 and f"adopted next key {generated}" in err  # one next key is enough


def test_emergency_needs_the_confirmation_and_says_what_senders_see(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    code, _, err = site.run(capsys, "rollover", "advance", "--emergency")
    assert code == 2
    assert "defer" in err and "--yes-i-understand" in err and "2 s" in err
    assert site.served() == [set(), set()]
    code, _, err = site.run(capsys, "rollover", "advance", "--emergency", "--yes-i-understand")
    assert code == 0, err
    assert "EMERGENCY" in err and site.installed() == tlsa(site.acme.fullchain)


def test_certbot_hook_without_deploy_publishes_at_once_and_warns(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site.deploys = False
    renewal = site.acme.root / "renewal" / f"{site.acme.name}.conf"
    renewal.parent.mkdir()
    renewal.write_text("version = 5.8.0\n[renewalparams]\nkey_type = rsa\n")
    monkeypatch.setenv("RENEWED_LINEAGE", str(site.acme.dir))
    monkeypatch.setenv("RENEWED_DOMAINS", site.acme.name)
    code, _, err = site.run(capsys, "publish")
    assert code == 0, err  # a first issuance: no record existed that the key went live before
    assert "reuse_key is not set" in err and "key_type = rsa" in err
    assert site.served() == [{tlsa(site.acme.fullchain)}] * 2
    site.acme.issue(new_key())  # a renewal with a new key, live before its record
    code, _, err = site.run(capsys, "publish")
    assert code == 9, err
    assert "was not published before" in err and "deploy = { cert, key, reload }" in err
    assert all(tlsa(site.acme.fullchain) in served for served in site.served())
    monkeypatch.setenv("RENEWED_LINEAGE", str(site.dir / "elsewhere"))
    code, out, err = site.run(capsys, "publish")
    assert code == 0 and "which no service uses" in out and "nothing done" in out
    assert err == "", err  # certbot would log it as "Hook ran with error output"


def test_certbot_hook_with_deploy_stages_the_new_key(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENEWED_LINEAGE", str(site.acme.dir))
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    assert "cannot read" in err  # no renewal conf in this fake lineage
    assert "is staged" in out and "installs it at " in out and " UTC (in " in out
    assert site.installed() is None and site.served() == [{tlsa(site.acme.fullchain)}] * 2


def test_a_deploy_without_an_answer_from_every_server_is_refused(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    """Exit 6 is for evidence against a step: a nameserver that does not answer cannot confirm
    the staged key's records, so its deploy is refused (not merely waited for)."""
    code, _, err = site.run(capsys, "rollover", "advance")
    assert code == 0, err
    time.sleep(GATE + 0.5)
    dead = Server("dead", "127.0.0.1", 9, 0)  # the discard port: nothing answers
    site.zone = dataclasses.replace(site.zone, servers=(*site.zone.servers, dead))
    code, out, err = site.run(capsys, "rollover", "advance", "--timeout", "5")
    assert code == 6 and site.installed() is None, err
    assert "mail: deploy refused: no usable answer from 127.0.0.1:9;" in out
    assert "error: 1 step(s) refused; first: mail deploy: no usable answer from 127.0.0.1:9" in err


def test_start_refuses_a_certbot_lineage(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    """certbot never uses a standing next key: `rollover start` says so and changes nothing."""
    site.deploys = False
    renewal = site.acme.root / "renewal" / f"{site.acme.name}.conf"
    renewal.parent.mkdir()
    renewal.write_text("version = 5.8.0\n[renewalparams]\nkey_type = ecdsa\n")
    code, _, err = site.run(capsys, "rollover", "start", "mail")
    assert code == 2, err
    assert f"reads certbot's lineage {site.acme.dir}" in err and "never uses" in err
    assert "deploy = { cert, key, reload }" in err and "nothing done" in err
    assert site.served() == [set(), set()] and not site.state.exists()


@pytest.mark.parametrize("layout", ["dehydrated", "acme.sh"])
def test_client_next_keys_roll_through_the_hooks(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
) -> None:
    site = Site(tmp_path, dns_lab.bind, fresh_host, layout)
    site.acme.issue(new_key())
    site.acme.prepare_next()
    first, upcoming = tlsa(site.acme.fullchain), tlsa(site.acme.next_key)
    for name in ("RENEWED_LINEAGE", "CERT_PATH", "CERT_KEY_PATH", "CERT_FULLCHAIN_PATH"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = site.run(capsys, "rollover", "start", "mail")
    assert code == 0 and f"adopted next key {site.acme.next_key}" in err, err
    assert site.served() == [{first, upcoming}] * 2
    time.sleep(GATE + 0.5)
    site.acme.roll()  # the client renews with the pre-published key and makes the next one
    after = tlsa(site.acme.next_key)
    if layout == "dehydrated":
        hook = [
            "hook",
            "dehydrated",
            "deploy_cert",
            site.acme.name,
            str(site.acme.key),
            str(site.acme.dir / "cert.pem"),
            str(site.acme.fullchain),
            str(site.acme.dir / "chain.pem"),
            "1700000000",
        ]
    else:
        monkeypatch.setenv("CERT_KEY_PATH", str(site.acme.key))
        monkeypatch.setenv("CERT_FULLCHAIN_PATH", str(site.acme.fullchain))
        monkeypatch.setenv("Le_Domain", site.acme.name)
        hook = ["publish"]
    code, _, err = site.run(capsys, *hook)
    assert code == 0, err  # the new key was published long enough: no warning
    assert site.served() == [{first, upcoming, after}] * 2  # the old one retires a TTL later
    time.sleep(TTL + 0.5)
    for name in ("CERT_KEY_PATH", "CERT_FULLCHAIN_PATH", "Le_Domain"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = site.run(capsys, "rollover", "advance")
    assert code == 0, err
    assert site.served() == [{upcoming, after}] * 2


def test_dehydrated_ignores_other_events(
    site: Site, capsys: pytest.CaptureFixture[str], no_hook_environment: None
) -> None:
    for event in (["startup_hook"], ["deploy_challenge", "d", "t", "v"], []):
        code, out, err = site.run(capsys, "hook", "dehydrated", *event)
        assert code == 0 and out == "", err
    assert site.served() == [set(), set()]
    code, _, err = site.run(capsys, "hook", "certbot", "deploy_cert")
    assert code == 2 and "tlsagen publish" in err
    assert os.environ.get("RENEWED_LINEAGE") is None


def test_publish_dry_run_changes_neither_dns_nor_the_state(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    no_hook_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service under rollover: `publish --dry-run` shows the plan like `plan`, without
    taking the state lock (a hook holding it would stall it for minutes), writing the state,
    or touching DNS."""
    site.acme.issue(new_key())
    assert site.run(capsys, "publish")[0] == 0
    before = site.state.read_bytes()
    site.acme.issue(new_key())  # a renewal: the next publish would add its key
    served = site.served()

    def no_lock(*args: object, **kwargs: object) -> None:
        raise AssertionError("publish --dry-run took the state lock")

    monkeypatch.setattr(engine, "locked", no_lock)
    code, out, _ = site.run(capsys, "publish", "--dry-run")
    assert code == 0 and "+ 3 1 1" in out
    assert site.state.read_bytes() == before and site.served() == served


def test_publish_says_it_rolled_back_a_deploy_a_crash_left_half_done(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_hook_environment: None,
) -> None:
    """publish recovers a half-done deploy before it reads anything, and says so: first in its
    text, as `recovered` in --json."""
    code, _, err = site.run(capsys, "rollover", "advance", "--emergency", "--yes-i-understand")
    assert code == 0, err
    first = site.installed()
    site.acme.issue(new_key())
    with monkeypatch.context() as patched:
        patched.setattr(deploy, "_finish", lambda target: None)  # the process died here
        code, _, err = site.run(capsys, "rollover", "advance", "--emergency", "--yes-i-understand")
    assert code == 0, err
    assert site.installed() != first and (site.server / "key.pem.tlsagen-pending").exists()
    code, out, err = site.run(capsys, "publish", "--json")
    assert code == 0, err
    (recovered,) = json.loads(out)["recovered"]
    assert recovered.startswith("service mail: ") and "rolled back" in recovered
    assert site.installed() == first and not (site.server / "key.pem.tlsagen-pending").exists()
