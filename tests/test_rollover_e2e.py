"""The whole rollover with real components on loopback: pebble issues, certbot renews and runs
`tlsagen publish` as its deploy hook, BIND (signed zone, TSIG, primary + secondary) serves the
records, and Postfix reads the certificate tlsagen deploys and presents it over STARTTLS.

TTL 2 s and margin 1 s: a staged key deploys 5 s after every server serves it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed.acme import Certbot, Pebble, publish_hook
from tests.testbed.model import DnsLab
from tests.testbed.postfix import PostfixLab, start_postfix
from tests.testbed.proc import binary
from tests.testbed.tiers import starts_servers
from tlsagen.core import material
from tlsagen.core.material import spki_of_certificate
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.net import dns, probe
from tlsagen.provider import Endpoint

TTL, MARGIN = 2, 1
GATE = 2 * TTL + MARGIN
HOST = "mail.example.test"  # has an A record (127.0.0.1) in the lab's zone


@pytest.fixture(scope="module")
@starts_servers
def mail_server() -> Iterator[PostfixLab]:
    """A Postfix of its own (the shared one must keep its certificates)."""
    with tempfile.TemporaryDirectory(prefix="tlsagen-rollover-postfix-") as directory:
        os.chmod(directory, 0o755)
        with start_postfix(Path(directory)) as lab:
            yield lab


def tlsa(path: Path) -> str:
    return compute(material.read_source(str(path)), Params(3, 1, 1)).to_text()


def postconf(lab: PostfixLab, *settings: str) -> None:
    subprocess.run(
        [binary("postconf"), "-c", str(lab.config_dir), "-e", *settings],
        check=True,
        capture_output=True,
    )


def serve_deployed(lab: PostfixLab, cert: Path, key: Path) -> None:
    """Postfix reads its certificate and key from the deploy paths (none there yet: it presents
    no certificate until tlsagen deploys one)."""
    postconf(
        lab,
        "smtpd_tls_chain_files =",
        f"smtpd_tls_cert_file = {cert}",
        f"smtpd_tls_key_file = {key}",
    )
    reload = [binary("postfix"), "-c", str(lab.config_dir), "reload"]
    subprocess.run(reload, check=True, capture_output=True)


class Setup:
    """certbot + tlsagen + Postfix: one service whose certificate tlsagen deploys to Postfix."""

    def __init__(self, root: Path, lab: DnsLab, pebble: Pebble, postfix: PostfixLab) -> None:
        self.root, self.lab, self.postfix = root, lab, postfix
        self.certbot = Certbot(pebble, root / "certbot")
        self.port = postfix.starttls_port
        self.owner = Owner.for_service(HOST, self.port)
        self.server_files = postfix.config_dir.parent / "deployed"
        self.hook_log = root / "hook.log"
        self.config = self.write_config()
        self.hook = self.write_hook()
        serve_deployed(postfix, self.server_files / "fullchain.pem", self.server_files / "key.pem")

    def write_config(self) -> Path:
        zone = self.lab.bind
        nameservers = ", ".join(f'"{s.address()}"' for s in zone.servers)
        reload = json.dumps([binary("postfix"), "-c", str(self.postfix.config_dir), "reload"])
        path = self.root / "tlsagen.toml"
        path.write_text(
            f"[defaults]\nttl = {TTL}\nmargin = {MARGIN}\n"
            f'state = "{self.root / "state.json"}"\nresolver = "{self.lab.resolver.address()}"\n\n'
            "[providers.dns]\ntype = 'rfc2136'\n"
            f"server = '{zone.primary.host}'\nport = {zone.primary.port}\n"
            f"key-file = '{zone.key.key_file}'\nnameservers = [{nameservers}]\ntimeout = 3\n\n"
            f"[[services]]\nname = 'mail'\nhosts = ['{HOST}']\nports = [{self.port}]\n"
            f"cert = '{self.certbot.lineage('mail')}'\nstarttls = 'smtp'\n"
            f"deploy = {{ cert = '{self.server_files / 'fullchain.pem'}', "
            f"key = '{self.server_files / 'key.pem'}', reload = {reload} }}\n"
        )
        return path

    def write_hook(self) -> Path:
        return publish_hook(self.config, self.hook_log, stderr_to_certbot=True)

    def hook_output(self) -> str:
        text = self.hook_log.read_text()
        self.hook_log.write_text("")
        return text

    def certbot_log(self) -> str:
        return (self.certbot.root / "logs" / "letsencrypt.log").read_text()

    def advance(self) -> subprocess.CompletedProcess[str]:
        tlsagen = Path(sys.executable).parent / "tlsagen"
        return subprocess.run(
            [str(tlsagen), "rollover", "advance", "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def served(self) -> list[set[str]]:
        found = []
        for server in self.lab.bind.servers:
            held = dns.tlsa_at(Endpoint(server.host, server.port), self.owner)
            found.append(set(held.texts()) if held else set())
        return found

    def presented(self) -> str:
        """The 3 1 1 record of the key Postfix presents over STARTTLS now."""
        served = probe.fetch("127.0.0.1", self.port, HOST, "smtp", None, 5)
        return "3 1 1 " + hashlib.sha256(spki_of_certificate(served.chain[0])).hexdigest()

    def lineage_key(self) -> str:
        return tlsa(self.certbot.lineage("mail") / "fullchain.pem")

    def dane_verified(self) -> bool:
        """openssl's own DANE check of Postfix against what BIND serves (an independent oracle)."""
        records = [f"-dane_tlsa_rrdata={r}" for r in sorted(self.served()[1])]
        done = subprocess.run(
            [
                "openssl",
                "s_client",
                "-brief",
                "-starttls",
                "smtp",
                "-connect",
                f"127.0.0.1:{self.port}",
                "-dane_tlsa_domain",
                HOST,
                *records,
                "-dane_ee_no_namechecks",
            ],
            input="QUIT\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return "Verification: OK" in done.stdout + done.stderr


def test_certbot_renewal_is_staged_then_deployed_to_postfix_then_retired(
    dns_lab: DnsLab, pebble: Pebble, mail_server: PostfixLab, tmp_path: Path
) -> None:
    setup = Setup(tmp_path, dns_lab, pebble, mail_server)
    hook = ("--deploy-hook", str(setup.hook))
    setup.certbot.certonly("mail", HOST, *hook)
    log = setup.hook_output()
    first = setup.lineage_key()
    assert "exit 0" in log and "is staged" in log and "installs it at " in log, log
    assert "Hook ran with error output" not in setup.certbot_log()  # nothing on stderr
    assert setup.served() == [{first}] * 2

    done = setup.advance()
    assert done.returncode == 0 and "error" not in done.stderr, done.stderr
    assert "mail: deploy waits until" in done.stdout
    time.sleep(GATE + 0.5)
    done = setup.advance()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mail: deployed and reloaded" in done.stdout
    assert setup.presented() == first

    setup.certbot.renew("mail")  # certbot's default: a new key at every renewal
    log = setup.hook_output()
    second = setup.lineage_key()
    assert second != first
    assert "exit 0" in log and "is staged" in log, log
    assert "reuse_key" not in setup.certbot_log()  # staged deployment makes key reuse unneeded
    assert "Hook ran with error output" not in setup.certbot_log()
    assert setup.served() == [{first, second}] * 2
    done = setup.advance()
    assert done.returncode == 0 and "deploy waits until" in done.stdout, done.stderr
    assert setup.presented() == first  # nothing deployed before the gate

    time.sleep(GATE + 0.5)
    done = setup.advance()
    assert done.returncode == 0, done.stdout + done.stderr  # deployed; retiring waits a TTL
    assert "mail: deployed and reloaded" in done.stdout and "retire waits until" in done.stdout
    assert setup.presented() == second
    assert setup.served() == [{first, second}] * 2

    time.sleep(TTL + 0.5)
    done = setup.advance()
    assert done.returncode == 0, done.stdout + done.stderr
    assert setup.served() == [{second}] * 2
    assert setup.dane_verified()


def test_certbot_without_deploy_warns_then_reuses_its_key(
    dns_lab: DnsLab, pebble: Pebble, tmp_path: Path
) -> None:
    certbot = Certbot(pebble, tmp_path / "certbot")
    host = "mx2.example.test"
    zone = dns_lab.bind
    nameservers = ", ".join(f'"{s.address()}"' for s in zone.servers)
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f'[defaults]\nttl = {TTL}\nmargin = {MARGIN}\nstate = "{tmp_path / "state.json"}"\n'
        "[providers.dns]\ntype = 'rfc2136'\n"
        f"server = '{zone.primary.host}'\nport = {zone.primary.port}\n"
        f"key-file = '{zone.key.key_file}'\nnameservers = [{nameservers}]\n"
        f"[[services]]\nname = 'plain'\nhosts = ['{host}']\nports = [26]\n"
        f"cert = '{certbot.lineage('plain')}'\nprobe = false\n"
    )
    log = tmp_path / "hook.log"
    certbot.certonly("plain", host, "--deploy-hook", str(publish_hook(config, log)))
    text = log.read_text()
    assert "exit 0" in text, text  # a first issuance: no record existed before, nothing late
    assert "reuse_key is not set" in text and "certbot reconfigure" in text

    log.write_text("")
    certbot.renew("plain")  # certbot's default: a new key, live before its record
    text = log.read_text()
    assert "exit 9" in text and "was not published before" in text, text

    log.write_text("")
    certbot.renew("plain", "--reuse-key")  # stored in renewal/plain.conf from now on
    text = log.read_text()
    assert "exit 0" in text and "warning" not in text, text
    owner = Owner.for_service(host, 26)
    held = dns.tlsa_at(Endpoint(zone.primary.host, zone.primary.port), owner)
    assert held is not None and tlsa(certbot.lineage("plain") / "fullchain.pem") in held.texts()
