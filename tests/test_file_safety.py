"""Files tlsagen writes: private keys and state 0600 and atomic whatever the umask; symbolic links
planted in the deploy and state directories are not followed; configuration and key directories
that others may write to are refused."""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import needs_provider
from tests.testbed.acme import CertDir, LocalCA, new_key
from tlsagen.cli.app import main
from tlsagen.config import Deploy
from tlsagen.errors import DeployError, InputError
from tlsagen.rollover import deploy, keys, state
from tlsagen.rollover.planner import Memory

EXAMPLES = Path(__file__).parents[1] / "docs/examples"
STRANGER = 54321  # a uid and gid that own the attacker's files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: every mode must come from the code, not from a careful umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# --- modes and atomic writes ---------------------------------------------------------------------


def test_a_generated_next_key_is_0600_in_a_0700_directory(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "keys" / "mail.next.key"
    keys.write_new_key(path, "Ed25519")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["mail.next.key"]


def test_the_state_and_its_lock_are_0600_in_a_0700_directory(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "state" / "state.json"
    with state.locked(path) as held:
        held.remember({"mail": Memory(started=True)})
    assert mode(path) == 0o600 and mode(path.with_name("state.json.lock")) == 0o600
    assert mode(path.parent) == 0o700


def test_a_crash_while_writing_a_key_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "next.key"
    keys.write_new_key(path, "Ed25519")
    before = path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="No space left"):
        keys.write_new_key(path, "Ed25519")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["next.key"]


@pytest.fixture
def issued(tmp_path: Path) -> deploy.Files:
    source = CertDir(tmp_path / "acme", "mx1.example.test", "certbot", LocalCA())
    source.issue(new_key())
    return deploy.read_files(source.fullchain, source.key)


def server_dir(tmp_path: Path) -> Deploy:
    server = tmp_path / "server"
    server.mkdir(mode=0o755)
    return Deploy(server / "fullchain.pem", server / "key.pem", ("true",), 10)


def test_a_deployed_key_is_0600(tmp_path: Path, issued: deploy.Files, open_umask: None) -> None:
    where = server_dir(tmp_path)
    deploy.install(where, issued)
    assert mode(where.key) == 0o600 and where.key.read_bytes() == issued.key_pem


# --- symbolic links planted where tlsagen writes -------------------------------------------------


def test_a_link_planted_as_the_deployed_key_is_replaced_not_followed(
    tmp_path: Path, issued: deploy.Files
) -> None:
    where = server_dir(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    where.key.symlink_to(victim)
    deploy.install(where, issued)
    assert victim.read_text() == "precious"
    assert not where.key.is_symlink() and where.key.read_bytes() == issued.key_pem


def test_a_link_planted_as_the_deployed_key_does_not_give_it_away(
    tmp_path: Path, issued: deploy.Files
) -> None:
    where = server_dir(tmp_path)
    bait = tmp_path / "bait"
    bait.write_text("the attacker's file")
    os.chown(bait, STRANGER, STRANGER)
    where.key.symlink_to(bait)
    deploy.install(where, issued)
    assert where.key.stat().st_uid != STRANGER


def test_a_link_planted_as_the_state_file_is_replaced_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.json"
    path.parent.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    path.symlink_to(victim)
    state.save(path, {"mail": Memory(started=True)})
    assert victim.read_text() == "precious" and not path.is_symlink()


def test_a_link_planted_as_the_state_lock_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.json"
    path.parent.mkdir()
    target = tmp_path / "created-by-root"
    path.with_name("state.json.lock").symlink_to(target)
    with pytest.raises(InputError), state.locked(path):
        pass
    assert not target.exists()


def test_a_link_planted_as_the_previous_key_is_not_restored(
    tmp_path: Path, issued: deploy.Files
) -> None:
    where = server_dir(tmp_path)
    secret = tmp_path / "root-only"
    secret.write_text("root's secret")
    secret.chmod(0o600)
    where.key.with_name("key.pem.tlsagen-previous").symlink_to(secret)
    where.cert.with_name("fullchain.pem.tlsagen-previous").write_bytes(issued.chain_pem)
    where.key.with_name("key.pem.tlsagen-pending").write_text('{"previous": true}')
    with pytest.raises(DeployError, match="symbolic links"):
        deploy.recover(where)
    assert not where.key.exists() or "root's secret" not in where.key.read_text()


# --- directories others may write to -------------------------------------------------------------


def site(tmp_path: Path, directory_mode: int, which: str, group: int = STRANGER) -> Path:
    """A zone-file configuration, runnable offline; `which` directory gets `directory_mode` and
    `group` (by default one of other users)."""
    config_dir, key_dir = tmp_path / "etc", tmp_path / "keys"
    for directory in (config_dir, key_dir):
        directory.mkdir(mode=0o755)
    next_key = key_dir / "next.key"
    next_key.write_bytes((EXAMPLES / "next.key").read_bytes())
    next_key.chmod(0o600)
    (config_dir / "example.com.zone").write_bytes(
        (EXAMPLES / "gitops/example.com.zone").read_bytes()
    )
    config = config_dir / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nstate = '{tmp_path / 'state' / 'state.json'}'\n"
        "[providers.zones]\ntype = 'zonefile'\npath = 'example.com.zone'\n"
        "[[services]]\nname = 'mail'\nhosts = ['mx1.example.com']\n"
        f"cert = '{EXAMPLES / 'mx.example.com/fullchain.pem'}'\nnext-key = '{next_key}'\n"
    )
    shared = config_dir if which == "config" else key_dir
    shared.chmod(directory_mode)
    os.chown(shared, -1, group)
    return config


@needs_provider("zonefile")
@pytest.mark.parametrize("directory_mode", [0o755, 0o1777], ids=["0755", "1777-sticky"])
def test_private_and_sticky_directories_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], directory_mode: int
) -> None:
    assert main(["plan", "--config", str(site(tmp_path, directory_mode, "key"))]) == 0


@needs_provider("zonefile")
def test_a_directory_writable_by_its_owners_private_group_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """umask 002 with a group per user (Debian, Fedora): group-writable means the owner only."""
    me, mine = pwd.getpwuid(os.geteuid()), grp.getgrgid(os.getegid())
    if mine.gr_name != me.pw_name or not set(mine.gr_mem) <= {me.pw_name}:
        pytest.skip(f"group {mine.gr_name} is not the private group of {me.pw_name}")
    assert main(["plan", "--config", str(site(tmp_path, 0o775, "key", os.getegid()))]) == 0


@pytest.mark.parametrize("which", ["config", "key"])
@pytest.mark.parametrize("directory_mode", [0o775, 0o777], ids=["0775", "0777"])
def test_directories_others_may_write_to_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str, directory_mode: int
) -> None:
    code = main(["plan", "--config", str(site(tmp_path, directory_mode, which))])
    shared = tmp_path / ("etc" if which == "config" else "keys")
    assert code == 3 and f"directory {shared} is writable" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["config", "key"])
def test_directories_of_another_user_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    config = site(tmp_path, 0o755, which)
    os.chown(config.parent if which == "config" else tmp_path / "keys", STRANGER, STRANGER)
    assert main(["plan", "--config", str(config)]) == 3
    assert f"belongs to user id {STRANGER}" in capsys.readouterr().err


def test_a_link_into_a_shared_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The configuration names a key in a private directory, but that is a link into one anyone
    may write to: the link's target is what gets read, so its directory counts."""
    config = site(tmp_path, 0o755, "key")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    (tmp_path / "keys/next.key").rename(shared / "next.key")
    (tmp_path / "keys/next.key").symlink_to(shared / "next.key")
    assert main(["plan", "--config", str(config)]) == 3
    assert f"directory {shared} is writable" in capsys.readouterr().err


def test_generate_refuses_a_private_key_others_could_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    key = shared / "next.key"
    key.write_bytes((EXAMPLES / "next.key").read_bytes())
    assert main(["generate", "--host", "mx.example.com", str(key)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"run: chmod go-w {shared}" in err


# --- files tlsagen reads from the state directory ------------------------------------------------


def site_without_next_key(tmp_path: Path) -> Path:
    """site(), but the service's next key is the one `rollover start` keeps in the state
    directory (STATE_DIR/keys/mail.next.key)."""
    config = site(tmp_path, 0o755, "key")
    text = config.read_text()
    config.write_text("\n".join(line for line in text.splitlines() if "next-key" not in line))
    return config


def public_pem(private: bytes) -> bytes:
    key = serialization.load_pem_private_key(private, None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def make_shared(directory: Path, how: str) -> None:
    if how == "writable by others":
        directory.chmod(0o777)
    else:
        os.chown(directory, STRANGER, STRANGER)


SHARED = ["writable by others", "owned by another user"]


@needs_provider("zonefile")
@pytest.mark.parametrize("how", SHARED)
@pytest.mark.parametrize("content", ["public key", "private key"])
def test_a_generated_next_key_in_a_directory_others_may_write_to_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, content: str
) -> None:
    config = site_without_next_key(tmp_path)
    keys_dir = tmp_path / "state" / "keys"
    keys_dir.mkdir(parents=True, mode=0o700)
    private = (EXAMPLES / "next.key").read_bytes()
    planted = keys_dir / "mail.next.key"
    planted.write_bytes(public_pem(private) if content == "public key" else private)
    planted.chmod(0o600)
    assert main(["plan", "--config", str(config)]) == 0  # a private directory: read
    make_shared(keys_dir, how)
    assert main(["plan", "--config", str(config)]) == 3
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"error: service mail: next key {planted}: directory {keys_dir} ")
    assert ("is writable by group or others" if how == SHARED[0] else f"user id {STRANGER}") in err


@needs_provider("zonefile")
@pytest.mark.parametrize("how", SHARED)
def test_a_state_file_in_a_directory_others_may_write_to_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    config = site_without_next_key(tmp_path)
    path = tmp_path / "state" / "state.json"
    state.save(path, {"mail": Memory(started=True)})
    make_shared(path.parent, how)
    before = path.read_bytes()
    for command in (["plan"], ["rollover", "status"], ["rollover", "advance"]):
        assert main([*command, "--config", str(config)]) == 3, command
        err = capsys.readouterr().err
        assert err.startswith(f"error: state file {path}: directory {path.parent} "), err
    assert path.read_bytes() == before


def test_rollover_start_writes_no_key_into_a_directory_others_may_write_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys_dir = tmp_path / "next-keys"
    keys_dir.mkdir(mode=0o777)
    keys_dir.chmod(0o777)
    with pytest.raises(InputError, match=f"directory {keys_dir} is writable"):
        keys.write_new_key(keys_dir / "mail.next.key", "Ed25519")
    assert list(keys_dir.iterdir()) == []
