"""`tlsagen init`: what it writes runs. The configuration, once the lab's server and key are
filled in, plans and publishes against real BIND; the deploy hook runs under a real certbot
(issuing from pebble) and publishes; the rollover service's command deploys to a real Postfix;
the units pass `systemd-analyze verify`. And it never overwrites a file."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests import test_rollover_e2e as e2e
from tests.helpers import Cli, verify_units
from tests.testbed.acme import Certbot, Pebble
from tests.testbed.model import DnsLab
from tests.testbed.postfix import PostfixLab
from tests.testbed.proc import binary
from tlsagen.cli.init import CONFIG, HOOK, SERVICE, TIMER
from tlsagen.core.material import spki_of_certificate
from tlsagen.core.records import Owner
from tlsagen.net import dns, probe
from tlsagen.provider import Endpoint

mail_server = e2e.mail_server  # a Postfix of this module's own
FILES = (CONFIG, HOOK, SERVICE, TIMER)


def init(cli: Cli, directory: Path, *extra: str | Path) -> str:
    run = cli(
        "init",
        "--provider",
        "rfc2136",
        "--host",
        e2e.HOST,
        "--lineage",
        "/etc/letsencrypt/live/mail",
        "--output-dir",
        directory,
        *extra,
    )
    assert run.code == 0, run.err
    return run.out


def fill_in(config: Path, lab: DnsLab, root: Path, postfix: PostfixLab, deployed: Path) -> None:
    """What the operator edits (the primary, the TSIG key, the resolver), plus the lab's
    speed-ups (TTL, margin), its state file and its Postfix."""
    zone = lab.bind
    nameservers = json.dumps([s.address() for s in zone.servers])
    reload = json.dumps([binary("postfix"), "-c", str(postfix.config_dir), "reload"])
    edits = {
        'server = "PRIMARY-IP"': f'server = "{zone.primary.address()}"',
        f'key-file = "{config.parent / "tsig.key"}"': f'key-file = "{zone.key.key_file}"',
        '# nameservers = ["192.0.2.53", "198.51.100.53"]': f"nameservers = {nameservers}",
        '# resolver = "127.0.0.1"': f'resolver = "{lab.resolver.address()}"',
        "ttl = 3600 ": f'ttl = {e2e.TTL}\nmargin = {e2e.MARGIN}\nstate = "{root / "state.json"}"\n',
        "/etc/postfix/tlsagen": str(deployed),
        '["systemctl", "reload", "postfix"]': reload,
    }
    text = config.read_text()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text + 'starttls = "smtp"\n')


def test_what_init_writes_plans_publishes_and_runs_under_certbot(
    cli: Cli, dns_lab: DnsLab, pebble: Pebble, mail_server: PostfixLab, tmp_path: Path
) -> None:
    certbot = Certbot(pebble, tmp_path / "certbot")
    lineage, etc = certbot.lineage("mail"), tmp_path / "etc"
    port = mail_server.starttls_port
    deployed = mail_server.config_dir.parent / "deployed"
    e2e.serve_deployed(mail_server, deployed / "fullchain.pem", deployed / "privkey.pem")
    out = init(cli, etc, "--port", str(port), "--deploy", "postfix", "--name", "mail")
    assert f"--deploy-hook {etc / HOOK}" in out
    config = etc / CONFIG
    config.write_text(config.read_text().replace("/etc/letsencrypt/live/mail", str(lineage)))

    run = cli("plan", "--config", config)  # as written: says what to fill in
    assert run.code == 3
    assert f"[providers.dns] key-file: cannot read {etc / 'tsig.key'}" in run.err

    fill_in(config, dns_lab, tmp_path, mail_server, deployed)
    run = cli("plan", "--config", config)  # before the first issuance: nothing to deploy yet
    assert run.code == 0, run.err
    assert f"nothing staged: service mail cert: {lineage} has not been created yet" in run.err

    certbot.certonly("mail", e2e.HOST, "--deploy-hook", str(etc / HOOK))
    record = e2e.tlsa(lineage / "fullchain.pem")
    owner = Owner.for_service(e2e.HOST, port)
    for server in dns_lab.bind.servers:
        held = dns.tlsa_at(Endpoint(server.host, server.port), owner)
        log = (certbot.root / "logs/letsencrypt.log").read_text()[-3000:]
        assert held is not None and held.texts() == [record], log

    assert cli("plan", "--config", config, "--exit-code").code == 0
    run = cli("publish", "--config", config)
    assert run.code == 0 and "No changes" in run.err, run.err

    time.sleep(e2e.GATE + 0.5)  # the staged certificate's gate
    unit = (etc / SERVICE).read_text()
    (command,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    done = subprocess.run(
        shlex.split(command.removeprefix("ExecStart=")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mail: deployed and reloaded" in done.stdout
    served = probe.fetch("127.0.0.1", port, e2e.HOST, "smtp", None, 5)
    assert "3 1 1 " + hashlib.sha256(spki_of_certificate(served.chain[0])).hexdigest() == record
    verify_units([etc / SERVICE, etc / TIMER])


def test_the_units_verify_and_the_timer_does_not_hide_refusals(cli: Cli, tmp_path: Path) -> None:
    init(cli, tmp_path)
    unit = (tmp_path / SERVICE).read_text()
    assert "SuccessExitStatus" not in unit
    assert "OnCalendar=" in (tmp_path / TIMER).read_text()
    assert (tmp_path / HOOK).stat().st_mode & 0o777 == 0o755
    verify_units([tmp_path / SERVICE, tmp_path / TIMER])


@pytest.mark.parametrize("existing", FILES)
def test_init_never_overwrites_and_writes_all_or_nothing(
    cli: Cli, tmp_path: Path, existing: str
) -> None:
    (tmp_path / existing).write_text("mine\n")
    run = cli(
        "init", "--provider", "zonefile", "--host", "mx1.example.com",
        "--lineage", tmp_path / "live/mx1", "--output-dir", tmp_path,
    )  # fmt: skip
    assert run.code == 3 and run.out == ""
    assert run.err == (
        f"error: {tmp_path / existing} exists; init never overwrites a file: move it away, "
        "or give --output-dir (nothing written)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text() == "mine\n"


@pytest.mark.parametrize("provider", ["rfc2136", "route53", "zonefile"])
def test_each_provider_gets_a_configuration_tlsagen_reads(
    cli: Cli, tmp_path: Path, provider: str
) -> None:
    from tlsagen import config

    cli("init", "--provider", provider, "--host", "mx1.example.com", "--host", "mx2.example.com",
        "--lineage", tmp_path / "live/mx1", "--output-dir", tmp_path)  # fmt: skip
    loaded = config.load(tmp_path / CONFIG)
    (service,) = loaded.services
    assert [o.name for o in service.owners] == [
        "_25._tcp.mx1.example.com.",
        "_25._tcp.mx2.example.com.",
    ]
    assert service.current == (str(tmp_path / "live/mx1"),) and service.deploy is None
    assert loaded.providers["dns"].kind == provider


def test_bad_choices_are_usage_errors(cli: Cli, tmp_path: Path) -> None:
    common = ["--host", "mx1.example.com", "--lineage", tmp_path, "--output-dir", tmp_path]
    run = cli("init", "--provider", "bind", *common)
    assert run.code == 2 and "--provider bind: use one of rfc2136, route53, zonefile" in run.err
    run = cli("init", "--provider", "rfc2136", "--deploy", "sendmail", *common)
    assert run.code == 2 and "--deploy sendmail: use one of postfix" in run.err
    assert list(tmp_path.iterdir()) == []


def test_control_characters_cannot_reach_the_hook_or_the_units(cli: Cli, tmp_path: Path) -> None:
    run = cli("init", "--provider", "rfc2136", "--host", "mx1.example.com",
              "--lineage", tmp_path / "live/mx1\nreboot", "--output-dir", tmp_path)  # fmt: skip
    assert run.code == 2 and "--lineage: control characters are not allowed" in run.err
    assert list(tmp_path.iterdir()) == []
