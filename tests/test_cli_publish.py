"""`tlsagen plan` and `tlsagen publish` end to end, against the real BIND (primary + secondary)
and Knot servers of the testbed, through the RFC 2136 provider."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.testbed import nsupdate, pause
from tests.testbed.model import DnsLab, Server, Zone
from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.net import dns
from tlsagen.provider import Endpoint

EXAMPLE = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"


def endpoint(server: Server) -> Endpoint:
    return Endpoint(server.host, server.port)


def make_key(path: Path, *algorithm: str) -> Path:
    """A private key made by openssl: Ed25519 unless `algorithm` gives genpkey options."""
    subprocess.run(
        ["openssl", "genpkey", *(algorithm or ["-algorithm", "ed25519"]), "-out", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def hash_of(source: Path) -> str:
    return compute(material.read_source(str(source)), Params(3, 1, 1)).to_text()


class Site:
    """A tlsagen.toml for one host in a real zone, and ways to run the CLI on it."""

    def __init__(self, tmp_path: Path, zone: Zone, host: str) -> None:
        self.dir, self.zone = tmp_path, zone
        self.host = f"{host}.{zone.name}"
        self.owner = Owner.for_service(self.host, 25)
        self.cert = EXAMPLE
        self.next_key: Path | None = None
        self.params = ["3 1 1"]
        self.key_file = zone.key.key_file
        self.server = zone.primary

    def write(self) -> Path:
        nameservers = ", ".join(f'"{s.address()}"' for s in self.zone.servers)
        next_key = f'next-key = "{self.next_key}"\n' if self.next_key else ""
        params = ", ".join(f'"{p}"' for p in self.params)
        path = self.dir / "tlsagen.toml"
        path.write_text(
            f"[defaults]\nttl = 60\nparams = [{params}]\n\n"
            "[providers.dns]\ntype = 'rfc2136'\n"
            f"server = '{self.server.host}'\nport = {self.server.port}\n"
            f"key-file = '{self.key_file}'\nnameservers = [{nameservers}]\ntimeout = 3\n\n"
            f"[[services]]\nname = 'mail'\nhosts = ['{self.host}']\ncert = '{self.cert}'\n"
            f"{next_key}"
        )
        return path

    def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = main([args[0], "--config", str(self.write()), *args[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    def served(self, server: Server) -> set[str]:
        held = dns.tlsa_at(endpoint(server), self.owner)
        return set(held.texts()) if held else set()

    def serial(self) -> int | None:
        return dns.soa_serial(endpoint(self.zone.primary), self.zone.name)


@pytest.fixture(params=["bind", "knot"])
def site(request: pytest.FixtureRequest, dns_lab: DnsLab, tmp_path: Path, fresh_host: str) -> Site:
    zone: Zone = getattr(dns_lab, request.param)
    return Site(tmp_path, zone, fresh_host)


@pytest.fixture
def bind_site(dns_lab: DnsLab, tmp_path: Path, fresh_host: str) -> Site:
    return Site(tmp_path, dns_lab.bind, fresh_host)


def test_first_publish_reaches_every_server_and_rerun_sends_nothing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.run(capsys, "plan", "--exit-code")[0] == 8
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    want = {hash_of(EXAMPLE)}
    for server in site.zone.servers:
        assert site.served(server) == want
        assert f"{server.address()}: serves all planned records" in out
    serial = site.serial()
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    assert "No changes" in err
    assert site.serial() == serial  # no UPDATE was sent
    assert site.run(capsys, "plan", "--exit-code")[0] == 0


def test_next_key_then_replacement(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert site.run(capsys, "publish")[0] == 0
    site.next_key = make_key(tmp_path / "next.key")
    code, out, _ = site.run(capsys, "plan", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["schema"] == 1 and plan["changes_pending"] is True
    (owner,) = plan["owners"]
    states = {r["state"] for r in owner["records"]}
    assert owner["action"] == "update" and states == {"keep", "add"}
    assert site.run(capsys, "publish")[0] == 0
    assert site.served(site.zone.primary) == {hash_of(EXAMPLE), hash_of(site.next_key)}
    # The next key goes live: it becomes `cert`/current; the old key's record is removed.
    site.cert, site.next_key = (
        site.next_key,
        make_key(tmp_path / "next2.key", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
    )
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    assert site.served(site.zone.servers[-1]) == {hash_of(site.cert), hash_of(site.next_key)}


def test_concurrent_writer_between_read_and_apply(
    bind_site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tlsagen import engine

    real_plan = engine.make_plan
    intruder = "3 1 1 " + "ab" * 32

    def plan_then_intrude(*args: object, **kwargs: object) -> engine.Plan:
        result = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        nsupdate(bind_site.zone, [f"update add {bind_site.owner} 60 TLSA {intruder}"])
        return result

    monkeypatch.setattr(engine, "make_plan", plan_then_intrude)
    code, _, err = bind_site.run(capsys, "publish")
    assert code == 5, err
    assert bind_site.served(bind_site.zone.primary) == {intruder}  # ours was not applied
    monkeypatch.setattr(engine, "make_plan", real_plan)
    code, _, err = bind_site.run(capsys, "publish")  # a re-run is safe and converges
    assert code == 0, err
    assert bind_site.served(bind_site.zone.primary) == {hash_of(EXAMPLE)}


def test_lagging_secondary_times_out_with_a_per_server_report(
    bind_site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    secondary = bind_site.zone.servers[1]
    with pause(secondary):
        code, out, err = bind_site.run(capsys, "publish", "--timeout", "2")
    assert code == 4
    assert f"{secondary.address()}: NOT serving 1 owner(s)" in out
    assert f"{bind_site.zone.primary.address()}: serves all planned records" in out
    assert "the change was applied to zone" in err and "run the command again to wait" in err
    assert f"{secondary.address()} (silent)" in err
    code, out, err = bind_site.run(capsys, "publish")  # nothing to apply, but it waits again
    assert code == 0, err
    assert f"{secondary.address()}: serves all planned records" in out


def test_publish_waits_for_a_secondary_that_catches_up(
    bind_site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    secondary = bind_site.zone.servers[1]
    os.kill(secondary.pid, signal.SIGSTOP)
    timer = threading.Timer(2.0, os.kill, (secondary.pid, signal.SIGCONT))
    timer.start()
    try:
        code, _, err = bind_site.run(capsys, "publish", "--timeout", "60")
    finally:
        timer.join()
        os.kill(secondary.pid, signal.SIGCONT)
    assert code == 0, err
    assert bind_site.served(secondary) == {hash_of(EXAMPLE)}


def test_wrong_secret_is_exit_4_and_never_shows_the_secret(
    bind_site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    planted = "cGxhbnRlZC1zZWNyZXQtZG8tbm90LXNob3ctbWUtMTIzNDU2Nzg5MA=="
    key_file = tmp_path / "wrong.key"
    key_file.write_text(
        f'key "{bind_site.zone.key.name}" {{\n  algorithm hmac-sha256;\n'
        f'  secret "{planted}";\n}};\n'
    )
    key_file.chmod(0o600)
    bind_site.key_file = key_file
    code = main(["--debug", "publish", "--config", str(bind_site.write())])
    out, err = capsys.readouterr()
    assert code == 4
    assert "BADSIG" in err or "signature" in err.lower()
    assert planted not in out + err
    assert planted[:20] not in out + err


def test_server_down_is_exit_4_with_nothing_applied(
    bind_site: Site, capsys: pytest.CaptureFixture[str], dns_lab: DnsLab
) -> None:
    closed = Server("closed", "127.0.0.1", 9, 0)  # discard port: nothing listens
    bind_site.server = closed
    code, _, err = bind_site.run(capsys, "publish")
    assert code == 4, err
    assert "127.0.0.1" in err
    assert bind_site.served(dns_lab.bind.primary) == set()
