"""The rollover's configuration keys ([defaults] state/margin; a service's deploy, probe, starttls,
next-key) and `rollover start`'s next key: adopted, generated, or refused."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.testbed.acme import CertDir, LocalCA, new_key
from tlsagen import config, engine
from tlsagen.core import material
from tlsagen.errors import InputError, UnsafeError, UsageError
from tlsagen.rollover import state
from tlsagen.testing import MemoryProvider

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def load(tmp_path: Path, defaults: str = "", service: str = "") -> config.Config:
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = 300\n{defaults}\n[providers.mem]\ntype = 'memory'\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.test']\ncert = 'live/mx'\n{service}"
    )
    return config.load(path)


def test_state_margin_deploy_probe_and_starttls(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        'state = "state/state.json"\nmargin = 5',
        'deploy = { cert = "/srv/chain.pem", key = "k.pem", reload = ["postfix", "reload"], '
        "timeout = 20 }\nprobe = false\nstarttls = 'smtp'\nkey = 'live/mx/privkey.pem'",
    )
    assert loaded.state == tmp_path / "state/state.json" and loaded.margin == 5
    (service,) = loaded.services
    assert service.deploy == config.Deploy(
        Path("/srv/chain.pem"), tmp_path / "k.pem", ("postfix", "reload"), 20
    )
    assert (service.probe, service.starttls) == (False, "smtp")
    assert service.private_key == str(tmp_path / "live/mx/privkey.pem")
    assert load(tmp_path).services[0].deploy is None and load(tmp_path).margin is None


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ('deploy = { cert = "a", key = "b", reload = "postfix reload" }', "as a list"),
        ('deploy = { cert = "a", reload = ["x"] }', "give cert and key"),
        ('deploy = { cert = "a", key = "a", reload = ["x"] }', "two different files"),
        ('deploy = { cert = "a", key = "b", reload = ["x"], user = "x" }', "unknown key 'user'"),
        ('deploy = { cert = "a", key = "b", reload = ["x"], timeout = 0 }', "positive number"),
        ("starttls = 'ftp'", "starttls: expected one of"),
        ("probe = 'yes'", "probe: expected true or false"),
    ],
)
def test_bad_rollover_settings_are_input_errors(tmp_path: Path, service: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load(tmp_path, service=service)


def test_deploy_needs_one_certificate(tmp_path: Path) -> None:
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        "[providers.mem]\ntype = 'memory'\n[[services]]\nname = 'mail'\nhosts = ['mx1.example']\n"
        "cert = ['a.pem', 'b.pem']\ndeploy = { cert = 'c', key = 'k', reload = ['x'] }\n"
    )
    with pytest.raises(InputError, match="exactly one 'cert'"):
        config.load(path)


def test_a_margin_below_the_default_is_warned_about(tmp_path: Path) -> None:
    acme = CertDir(tmp_path, "mx", "certbot", LocalCA())
    acme.issue(new_key())
    plan = engine.make_plan(load(tmp_path, "margin = 5"), {"mem": MemoryProvider()}, NOW)
    assert any("margin = 5 s is below the default" in w for w in plan.warnings)
    plan = engine.make_plan(load(tmp_path, "margin = 60"), {"mem": MemoryProvider()}, NOW)
    assert not any("below the default" in w for w in plan.warnings), plan.warnings


# --- rollover start ------------------------------------------------------------------------------


@pytest.fixture
def acme(tmp_path: Path) -> CertDir:
    found = CertDir(tmp_path, "mx", "certbot", LocalCA())
    found.issue(new_key("rsa"))
    return found


def start(tmp_path: Path, loaded: config.Config, key_type: str | None = None) -> engine.NextKey:
    with state.locked(engine.state_path(loaded)) as held:
        found = engine.ensure_next_key(loaded, held, "mail", key_type, NOW)
        assert held.get("mail").started
    return found


def test_start_generates_a_key_of_the_current_type_in_the_state_directory(
    tmp_path: Path, acme: CertDir
) -> None:
    loaded = load(tmp_path, 'state = "st/state.json"')
    found = start(tmp_path, loaded)
    assert found.generated and found.key_type == "RSA 2048"
    assert found.path == str(tmp_path / "st/keys/mail.next.key")
    assert stat.S_IMODE(Path(found.path).stat().st_mode) == 0o600
    assert material.read_source(found.path).key_type == "RSA 2048"
    again = start(tmp_path, loaded, "p256")
    assert not again.generated and again.path == found.path  # adopted, not replaced


def test_start_generates_a_configured_next_key_of_the_type_asked(
    tmp_path: Path, acme: CertDir
) -> None:
    loaded = load(tmp_path, 'state = "st/state.json"', "next-key = 'next/mail.key'")
    found = start(tmp_path, loaded, "ed25519")
    assert found.generated and found.path == str(tmp_path / "next/mail.key")
    assert material.read_source(found.path).key_type == "Ed25519"
    with pytest.raises(UsageError, match="--key-type dsa"):
        start(tmp_path, load(tmp_path, 'state = "other/state.json"'), "dsa")


def test_start_adopts_a_client_next_key(tmp_path: Path, acme: CertDir) -> None:
    files = CertDir(tmp_path / "d", "mx", "dehydrated", LocalCA())
    files.issue(new_key())
    files.prepare_next()
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nstate = 'st/state.json'\n[providers.mem]\ntype = 'memory'\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example']\ncert = '{files.dir}'\n"
    )
    found = start(tmp_path, config.load(path))
    assert not found.generated and found.path == str(files.next_key)


def test_start_refuses_to_overwrite_a_configured_next_key_that_went_live(
    tmp_path: Path, acme: CertDir
) -> None:
    loaded = load(tmp_path, 'state = "st/state.json"', f"next-key = '{acme.key}'")
    with pytest.raises(UnsafeError, match="is the key the server presents now"):
        start(tmp_path, loaded)
