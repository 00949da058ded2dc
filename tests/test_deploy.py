"""Installing certificate files and reloading: atomic, key 0600, no shell, timeout, restore."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tests.helpers import Cli
from tests.testbed.acme import CertDir, LocalCA, new_key, recording_reload, reloads
from tests.testbed.postfix import start_postfix
from tests.testbed.proc import binary
from tlsagen.config import Deploy, Service
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.errors import DeployError, InputError
from tlsagen.net import probe
from tlsagen.rollover import deploy


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


# --- whatever is at the deploy paths comes back byte for byte ------------------------------------


def _pem(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _found(what: str) -> tuple[bytes | None, bytes | None]:
    """(certificate bytes, key bytes) of something at the deploy paths tlsagen cannot use."""
    installed = CertDir(Path(tempfile.mkdtemp()), "old.example.test", "certbot", LocalCA())
    key = new_key()
    installed.issue(key)
    chain = installed.fullchain.read_bytes()
    shutil.rmtree(installed.root)
    return {
        "an encrypted key": (chain, _pem(key, b"secret password")),
        "a curve tlsagen does not know": (chain, _pem(ec.generate_private_key(ec.SECP256K1()))),
        "a pair that does not match": (chain, _pem(new_key())),
        "only the certificate": (chain, None),
        "only the key": (None, _pem(key)),
        "nothing at all": (None, None),
        "bytes that are no PEM": (b"\x00\xffnot a certificate\n", b"-----BEGIN junk\r\n\xfe"),
        "a usable pair": (chain, _pem(key)),
    }[what]


def _snapshot(directory: Path) -> dict[str, tuple[object, ...]]:
    """Every entry of `directory`: its bytes (or link target), mode and owner."""
    found: dict[str, tuple[object, ...]] = {}
    for path in sorted(directory.iterdir()):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            content: object = path.read_bytes()
        else:  # a link's target; a directory or pipe: its type (reading a pipe would block)
            content = os.readlink(path) if path.is_symlink() else stat.S_IFMT(info.st_mode)
        found[path.name] = (content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    return found


def _plant(path: Path, data: bytes | None, mode: int, owner: int) -> None:
    if data is None:
        return
    path.write_bytes(data)
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, owner, owner + 1)  # a user and group that are not tlsagen's


EXIT_1 = [sys.executable, "-c", "raise SystemExit(1)"]


@pytest.mark.parametrize(
    "what",
    [
        "an encrypted key",
        "a curve tlsagen does not know",
        "a pair that does not match",
        "only the certificate",
        "only the key",
        "nothing at all",
        "bytes that are no PEM",
        "a usable pair",
    ],
)
def test_a_failed_reload_puts_back_exactly_what_was_there(
    tmp_path: Path, source: CertDir, what: str
) -> None:
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    cert, key = _found(what)
    _plant(where.cert, cert, 0o664, 4321)
    _plant(where.key, key, 0o640, 4323)
    before = _snapshot(where.cert.parent)
    with pytest.raises(DeployError) as caught:
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert _snapshot(where.cert.parent) == before
    message = str(caught.value)
    assert "exited with status 1" in message and "reloading failed too" in message
    if cert is None and key is None:
        assert "the new files are removed again, as nothing was there before" in message
        return
    assert "the previous files are back in place" in message
    for path, data in ((where.cert, cert), (where.key, key)):
        assert (data is None) == (f"{path} was not there before and is removed again" in message)


def test_a_symbolic_link_at_a_deploy_path_is_put_back_as_the_link(
    tmp_path: Path, source: CertDir
) -> None:
    shared = CertDir(tmp_path / "shared", "old.example.test", "certbot", LocalCA())
    shared.issue(new_key())
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    where.cert.symlink_to(shared.fullchain)
    where.key.symlink_to(os.path.relpath(shared.key, where.key.parent))
    before, shared_before = _snapshot(where.cert.parent), _snapshot(shared.dir)
    with pytest.raises(DeployError, match="the previous files are back in place"):
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert _snapshot(where.cert.parent) == before
    assert _snapshot(shared.dir) == shared_before  # never written through the link


def test_an_interrupted_install_over_unusable_files_is_rolled_back_to_them(
    tmp_path: Path, source: CertDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "reloads"
    where = target(tmp_path, recording_reload(log))
    where.cert.parent.mkdir()
    cert, key = _found("an encrypted key")
    _plant(where.cert, cert, 0o644, 4321)
    _plant(where.key, key, 0o600, 4323)
    before = _snapshot(where.cert.parent)
    with monkeypatch.context() as patched:
        patched.setattr(deploy, "_finish", lambda target: None)  # the process died here
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert deploy.installed(where).pending
    message = deploy.recover(where)
    assert message is not None and "the previous files are back in place" in message
    assert _snapshot(where.cert.parent) == before
    assert reloads(log) == 2


def test_a_damaged_marker_is_left_for_the_user(tmp_path: Path, source: CertDir) -> None:
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    (where.key.parent / "key.pem.tlsagen-pending").write_text("{not json")
    with pytest.raises(DeployError, match="is damaged: cannot tell what"):
        deploy.recover(where)
    assert (where.key.parent / "key.pem.tlsagen-pending").exists()


def test_a_copy_replaced_by_a_link_is_not_restored_and_the_message_says_so(
    tmp_path: Path, source: CertDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    cert, key = _found("a usable pair")
    _plant(where.cert, cert, 0o644, 4321)
    _plant(where.key, key, 0o600, 4323)
    secret = tmp_path / "elsewhere"
    secret.write_bytes(b"not for the server")

    def plant_link(deploy_: Deploy, chain_pem: bytes, key_pem: bytes) -> None:
        copy = where.key.with_name("key.pem.tlsagen-previous")
        copy.unlink()
        copy.symlink_to(secret)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deploy, "_write", plant_link)
    with pytest.raises(DeployError) as caught:
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    message = str(caught.value)
    assert "No space left on device" in message
    assert "putting the previous files back failed too" in message and "by hand" in message
    assert where.key.read_bytes() == key  # never replaced by the link's target
    assert (where.key.parent / "key.pem.tlsagen-pending").exists()


def _same_file(tmp_path: Path, how: str) -> Deploy:
    server = tmp_path / "server"
    server.mkdir()
    (server / "both.pem").write_bytes(b"")
    if how == "symbolic link":
        (server / "key.pem").symlink_to("both.pem")
    elif how == "hard link":
        os.link(server / "both.pem", server / "key.pem")
    elif how == "linked directory":
        (tmp_path / "alias").symlink_to(server)
        return Deploy(server / "both.pem", tmp_path / "alias" / "both.pem", ("true",))
    return Deploy(server / "both.pem", server / "key.pem", ("true",))


@pytest.mark.parametrize("how", ["symbolic link", "hard link", "linked directory"])
def test_cert_and_key_that_are_one_file_are_refused(
    tmp_path: Path, source: CertDir, cli: Cli, how: str
) -> None:
    where = _same_file(tmp_path, how)
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        '[providers.dns]\ntype = "zonefile"\npath = "zone.db"\n'
        '[[services]]\nhosts = ["mx1.example.test"]\n'
        f'cert = "{source.fullchain}"\n'
        f'deploy = {{ cert = "{where.cert}", key = "{where.key}", reload = ["true"] }}\n'
    )
    done = cli("plan", "--config", config)
    assert done.code == 3, done.err
    line = done.err.strip()
    assert "\n" not in line and "are the same file" in line
    assert str(where.cert) in line and str(where.key) in line
    before = _snapshot(tmp_path / "server")
    with pytest.raises(InputError, match="are the same file"):
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert _snapshot(tmp_path / "server") == before


def _postconf(config_dir: Path, *settings: str) -> None:
    argv = [binary("postconf"), "-c", str(config_dir), "-e", *settings]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


@pytest.mark.servers  # starts a Postfix of its own
def test_a_failed_postfix_reload_leaves_postfix_with_the_files_it_had(source: CertDir) -> None:
    """Real Postfix: its main.cf is broken, so `postfix reload` fails; tlsagen's deploy puts the
    files back byte for byte, and Postfix, reloaded once main.cf is fixed, presents the old key."""
    with tempfile.TemporaryDirectory(prefix="tlsagen-deploy-postfix-") as name:
        directory = Path(name)
        directory.chmod(0o755)
        with start_postfix(directory / "postfix") as lab:
            served = directory / "served"
            old = CertDir(served, "mx1.example.test", "certbot", LocalCA())
            old.issue(new_key())
            old.key.chmod(0o640)
            os.chown(old.key, 0, grp.getgrnam("postfix").gr_gid)
            where = Deploy(
                old.fullchain,
                old.key,
                (binary("postfix"), "-c", str(lab.config_dir), "reload"),
                30,
            )
            _postconf(
                lab.config_dir,
                "smtpd_tls_chain_files =",
                f"smtpd_tls_cert_file = {where.cert}",
                f"smtpd_tls_key_file = {where.key}",
            )
            deploy.reload(where)
            leaf = material.read_source(str(old.fullchain)).chain[0]

            def presented() -> bytes:
                return probe.fetch("127.0.0.1", lab.starttls_port, "mx1", "smtp", None, 10).chain[0]

            assert presented() == leaf
            main_cf = lab.config_dir / "main.cf"
            good = main_cf.read_text()
            main_cf.write_text(good + "this line is not a setting\n")
            before = _snapshot(old.dir)
            with pytest.raises(DeployError, match="exited with status 1") as caught:
                deploy.install(where, deploy.read_files(source.fullchain, source.key))
            assert "the previous files are back in place, but reloading failed too" in str(
                caught.value
            )
            assert _snapshot(old.dir) == before
            main_cf.write_text(good)
            deploy.reload(where)
            assert presented() == leaf


@pytest.mark.parametrize("what", ["a directory", "a named pipe"])
def test_a_deploy_path_that_is_not_a_file_is_refused_before_anything_changes(
    tmp_path: Path, source: CertDir, what: str
) -> None:
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    cert, _ = _found("a usable pair")
    _plant(where.cert, cert, 0o644, 4321)
    if what == "a directory":
        where.key.mkdir()
    else:
        os.mkfifo(where.key)
    before = _snapshot(where.cert.parent)
    with pytest.raises(InputError, match=f"deploy path {where.key} is not a file; nothing was"):
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert _snapshot(where.cert.parent) == before


def test_a_copy_that_cannot_be_made_changes_nothing(
    tmp_path: Path, source: CertDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = target(tmp_path, EXIT_1)
    where.cert.parent.mkdir()
    cert, key = _found("a usable pair")
    _plant(where.cert, cert, 0o644, 4321)
    _plant(where.key, key, 0o600, 4323)
    before = _snapshot(where.cert.parent)
    real_write = deploy.write_atomic

    def full_disk_for_the_key_copy(path: Path, *args: object, **kwargs: object) -> None:
        if path.name == "key.pem.tlsagen-previous":
            raise OSError(28, "No space left on device")
        real_write(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deploy, "write_atomic", full_disk_for_the_key_copy)
    with pytest.raises(DeployError, match=r"\(No space left on device\); nothing was changed"):
        deploy.install(where, deploy.read_files(source.fullchain, source.key))
    assert _snapshot(where.cert.parent) == before
