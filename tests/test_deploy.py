"""Installing certificate files and reloading: atomic, key 0600, no shell, timeout, restore."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from tests.testbed.acme import CertDir, LocalCA, new_key, recording_reload, reloads
from tlsagen import deploy
from tlsagen.config import Deploy, Service
from tlsagen.errors import DeployError, InputError
from tlsagen.records import Owner


def service(cert: Path, key: Path | None = None) -> Service:
    owner = Owner("_25._tcp.mx1.example.test.")
    private_key = str(key) if key else None
    return Service("mail", (owner,), (str(cert),), (), (), 60, "dns", private_key)


@pytest.fixture
def source(tmp_path: Path) -> CertDir:
    found = CertDir(tmp_path / "acme", "mx1.example.test", "certbot", LocalCA())
    found.issue(new_key())
    return found


def target(tmp_path: Path, reload: list[str], timeout: float = 10) -> Deploy:
    server = tmp_path / "server"
    return Deploy(server / "fullchain.pem", server / "key.pem", tuple(reload), timeout)


@pytest.mark.parametrize("layout", ["certbot", "dehydrated", "acme.sh"])
def test_source_paths_of_each_client(tmp_path: Path, layout: str) -> None:
    found = CertDir(tmp_path, "mx1.example.test", layout, LocalCA())
    found.issue(new_key())
    configured = found.dir if layout != "acme.sh" else found.fullchain
    assert deploy.source_paths(service(configured)) == (found.fullchain, found.key)


def test_source_key_given_explicitly_or_missing(tmp_path: Path, source: CertDir) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(source.fullchain.read_bytes())
    with pytest.raises(InputError, match="give it as 'key'"):
        deploy.source_paths(service(chain))
    assert deploy.source_paths(service(chain, source.key)) == (chain, source.key)


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path, source: CertDir) -> None:
    other = tmp_path / "other.key"
    CertDir(tmp_path / "x", "x", "certbot", LocalCA()).issue(new_key())
    other.write_bytes((tmp_path / "x/live/x/privkey.pem").read_bytes())
    with pytest.raises(InputError, match="is not the key of the certificate"):
        deploy.read_files(source.fullchain, other)


def test_install_writes_both_files_atomically_and_reloads(tmp_path: Path, source: CertDir) -> None:
    log = tmp_path / "reloads"
    where = target(tmp_path, recording_reload(log))
    files = deploy.read_files(source.fullchain, source.key)
    deploy.install(where, files)
    assert where.cert.read_bytes() == source.fullchain.read_bytes()
    assert where.key.read_bytes() == source.key.read_bytes()
    assert stat.S_IMODE(where.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(where.cert.stat().st_mode) == 0o644
    assert reloads(log) == 1
    assert sorted(p.name for p in where.cert.parent.iterdir()) == ["fullchain.pem", "key.pem"]
    found = deploy.installed(where)
    assert found.files is not None and files.same_as(found.files) and not found.pending


def test_the_reload_command_runs_without_a_shell(tmp_path: Path, source: CertDir) -> None:
    planted = tmp_path / "planted"
    argv = [sys.executable, "-c", "import sys; sys.exit(0)", f"; touch {planted}"]
    deploy.install(target(tmp_path, argv), deploy.read_files(source.fullchain, source.key))
    assert not planted.exists()


@pytest.mark.parametrize(
    ("reload", "message"),
    [
        (["/nonexistent/reload-me"], "reload command not found"),
        ([sys.executable, "-c", "import time; time.sleep(30)"], "did not finish within 0.5 s"),
        ([sys.executable, "-c", "import sys; sys.exit('config error')"], "config error"),
    ],
)
def test_a_failed_reload_puts_the_previous_files_back(
    tmp_path: Path, source: CertDir, reload: list[str], message: str
) -> None:
    log = tmp_path / "reloads"
    good = target(tmp_path, recording_reload(log))
    deploy.install(good, deploy.read_files(source.fullchain, source.key))
    before = (good.cert.read_bytes(), good.key.read_bytes())
    source.issue(new_key())
    failing = Deploy(good.cert, good.key, tuple(reload), 0.5)
    with pytest.raises(DeployError, match=message) as caught:
        deploy.install(failing, deploy.read_files(source.fullchain, source.key))
    assert "previous files are back in place" in str(caught.value)
    assert (good.cert.read_bytes(), good.key.read_bytes()) == before
    assert sorted(p.name for p in good.cert.parent.iterdir()) == ["fullchain.pem", "key.pem"]


def test_a_failed_first_install_leaves_nothing(tmp_path: Path, source: CertDir) -> None:
    where = target(tmp_path, [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(DeployError, match="status 3"):
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert list(where.cert.parent.iterdir()) == []


def test_recover_rolls_back_an_interrupted_install(
    tmp_path: Path, source: CertDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "reloads"
    where = target(tmp_path, recording_reload(log))
    deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert deploy.recover(where) is None
    first = where.cert.read_bytes()
    source.issue(new_key())
    renewed = deploy.read_files(source.fullchain, source.key)
    interrupted = Deploy(where.cert, where.key, (sys.executable, "-c", "import os; os._exit(0)"))
    with monkeypatch.context() as patched:
        patched.setattr(deploy, "_finish", lambda target: None)  # the process died here
        deploy.install(interrupted, renewed)
    state = deploy.installed(where)
    assert state.pending and state.previous is not None and state.files is not None
    message = deploy.recover(where)
    assert message is not None and "rolled back" in message
    assert where.cert.read_bytes() == first and not deploy.installed(where).pending
    assert reloads(log) == 2
