"""Installing a certificate where the server reads it, and reloading the server.

An install is a small transaction kept in files next to the deployed key, so that it survives a
crash even without the state file:

1. keep what is at each deploy path, whatever it is: a file (parsable or not) is copied byte for
   byte to FILE.tlsagen-previous with its mode and owner, a symbolic link is noted with its target,
   and so is that nothing is there; then write KEY.tlsagen-pending (the marker, which holds these
   notes);
2. replace the certificate and the key, each atomically (the key with mode 0600);
3. run the reload command (an argv list, no shell) with a timeout;
4. on success remove the copies and the marker; on failure put back exactly what was there (and
   remove the new files where nothing was), reload once more and report.

A run that finds the marker (a crash between 1 and 4) rolls back the same way (`recover`); the
rollover then installs the certificate again, as its gate has already passed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tlsagen.config import Deploy, Service
from tlsagen.config_values import child_environment, refuse_same_file
from tlsagen.core import material
from tlsagen.errors import DeployError, InputError
from tlsagen.files import sync_directory, write_atomic

PREVIOUS = ".tlsagen-previous"
PENDING = ".tlsagen-pending"
FILE, LINK, ABSENT = "file", "link", "absent"  # what the marker notes a deploy path held
CERT_MODE, KEY_MODE = 0o644, 0o600
_OUTPUT_TAIL = 400


@dataclass(frozen=True)
class Files:
    """A certificate chain and its private key, as PEM bytes and as key material."""

    chain_path: Path
    key_path: Path
    chain_pem: bytes
    key_pem: bytes
    chain: material.Material

    @property
    def source(self) -> str:
        return str(self.chain_path)

    def same_as(self, other: Files | None) -> bool:
        return other is not None and (self.chain.chain, self.chain.spki) == (
            other.chain.chain,
            other.chain.spki,
        )


@dataclass(frozen=True)
class Installed:
    """What the deploy paths hold, and the files an interrupted install replaced."""

    files: Files | None  # None: nothing (whole) installed yet
    previous: Files | None  # set only while an install is pending
    pending: bool


def _previous(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS)


def _marker(deploy: Deploy) -> Path:
    return deploy.key.with_name(deploy.key.name + PENDING)


NOT_YET_ISSUED = (
    "issue the certificate first (certbot creates the lineage directory "
    "/etc/letsencrypt/live/NAME at the first issuance), or correct the path"
)


def source_paths(service: Service) -> tuple[Path, Path]:
    """The chain and key the ACME client writes (certbot lineage, dehydrated, acme.sh, files)."""
    source = Path(service.current[0])
    if not source.exists():
        raise InputError(
            f"service {service.name} {service.current_setting}: {source} has not been created yet; "
            f"{NOT_YET_ISSUED}"
        )
    if source.is_dir():
        return source / "fullchain.pem", source / "privkey.pem"
    candidates = [Path(service.private_key)] if service.private_key else []
    candidates += [source.parent / "privkey.pem", source.parent / f"{source.parent.name}.key"]
    for candidate in candidates:
        if candidate.is_file():
            return source, candidate
    raise InputError(
        f"service {service.name} {service.current_setting}: cannot find the private key of "
        f"{source} (looked for {', '.join(str(c) for c in candidates)}); give it as 'key' in "
        "the service"
    )


def read_files(chain_path: Path, key_path: Path) -> Files:
    """Read a chain and its key; InputError when the key is not the certificate's."""
    chain_pem = material.read_bytes(chain_path, str(chain_path))
    key_pem = material.read_bytes(key_path, str(key_path))
    chain = material.parse(str(chain_path), chain_pem)
    key = material.parse(str(key_path), key_pem)
    if chain.kind != "certificate" or key.kind != "private key":
        raise InputError(f"{chain_path} must hold a certificate and {key_path} its private key")
    if key.spki != chain.spki:
        raise InputError(
            f"the key in {key_path} is not the key of the certificate in {chain_path} "
            "(is the ACME client writing them right now?)"
        )
    return Files(chain_path, key_path, chain_pem, key_pem, chain)


def _read_if_present(chain_path: Path, key_path: Path) -> Files | None:
    if not (chain_path.exists() and key_path.exists()):
        return None
    try:
        return read_files(chain_path, key_path)
    except InputError:
        return None  # a half-written install: treated as nothing installed


def installed(deploy: Deploy) -> Installed:
    pending = _marker(deploy).exists()
    previous = _read_if_present(_previous(deploy.cert), _previous(deploy.key)) if pending else None
    return Installed(_read_if_present(deploy.cert, deploy.key), previous, pending)


def reload(deploy: Deploy) -> None:
    """Run the reload command; DeployError when it cannot start, fails or times out."""
    argv = list(deploy.reload)
    command = " ".join(argv)
    try:
        done = subprocess.run(
            argv,
            env=child_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=deploy.timeout,
            check=False,
        )
    except FileNotFoundError:
        raise DeployError(f"reload command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"'{command}' did not finish within {deploy.timeout:g} s") from None
    except OSError as exc:
        raise DeployError(f"cannot run '{command}': {exc.strerror or exc}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-_OUTPUT_TAIL:]
        raise DeployError(f"'{command}' exited with status {done.returncode}: {output}")


def _write(deploy: Deploy, chain_pem: bytes, key_pem: bytes) -> None:
    write_atomic(deploy.key, key_pem, KEY_MODE, owner_of=deploy.key)
    write_atomic(deploy.cert, chain_pem, CERT_MODE, owner_of=deploy.cert)


def _paths(deploy: Deploy) -> dict[str, Path]:
    return {"key": deploy.key, "cert": deploy.cert}


def _keep(path: Path) -> dict[str, str]:
    """Keep what is at `path` (see the module's step 1); the marker's note of it."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return {"was": ABSENT}
    if stat.S_ISLNK(info.st_mode):
        return {"was": LINK, "target": os.readlink(path)}
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"deploy path {path} is not a file; nothing was changed")
    data, mode = _read_no_link(path)
    write_atomic(_previous(path), data, mode, owner_of=path)
    return {"was": FILE}


def _notes(deploy: Deploy) -> dict[str, dict[str, str]]:
    """The marker's notes of what each deploy path held before the install."""
    marker = _marker(deploy)
    try:
        data = json.loads(marker.read_bytes())
        kept = data.get("kept")
        if kept is None:  # a marker of tlsagen 0.1: both copies, or nothing
            was = FILE if data.get("previous") else ABSENT
            kept = {role: {"was": was} for role in _paths(deploy)}
        return {role: dict(kept[role]) for role in _paths(deploy)}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        raise DeployError(
            f"{marker} is damaged: cannot tell what the interrupted install replaced; put back "
            f"the {PREVIOUS} copies by hand, then remove {marker}"
        ) from None


def _put_link(path: Path, target: str) -> None:
    temporary = path.with_name(f".{path.name}{PREVIOUS}.link")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    os.replace(temporary, path)
    sync_directory(path.parent)


def _restore(deploy: Deploy) -> tuple[list[Path], list[Path]]:
    """Put back what the install replaced: (the paths put back, those removed as none were)."""
    back, removed = [], []
    notes = _notes(deploy)
    for role, path in _paths(deploy).items():
        note = notes[role]
        if note["was"] == FILE:
            data, mode = _read_no_link(_previous(path))
            write_atomic(path, data, mode, owner_of=_previous(path))
            back.append(path)
        elif note["was"] == LINK:
            _put_link(path, note["target"])
            back.append(path)
        else:
            path.unlink(missing_ok=True)
            removed.append(path)
    return back, removed


def _read_no_link(path: Path) -> tuple[bytes, int]:
    """A file's bytes and mode, never through a link planted in its place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise DeployError(f"cannot read {path} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as copy:
        return copy.read(), stat.S_IMODE(os.fstat(fd).st_mode)


def _finish(deploy: Deploy) -> None:
    for path in (deploy.key, deploy.cert):
        _previous(path).unlink(missing_ok=True)
    _marker(deploy).unlink(missing_ok=True)
    sync_directory(deploy.key.parent)


def _roll_back(deploy: Deploy) -> tuple[str, bool]:
    """Put back what was there and reload: (what became of it, in words; whether all went well)."""
    try:
        back, removed = _restore(deploy)
    except (DeployError, OSError) as exc:
        return (
            f"putting the previous files back failed too ({exc}); they are still in the "
            f"{PREVIOUS} copies beside {deploy.cert} and {deploy.key}: put them back by hand and "
            f"remove {_marker(deploy)}"
        ), False
    if not back:
        done = "the new files are removed again, as nothing was there before"
    else:
        done = "the previous files are back in place"
        if removed:
            done += f" ({', '.join(map(str, removed))} was not there before and is removed again)"
    try:
        reload(deploy)
        reloaded = True
        done += " and the server was reloaded"
    except DeployError as exc:
        reloaded = False
        done += f", but reloading failed too ({exc})"
    _finish(deploy)
    return done, reloaded


def install(deploy: Deploy, files: Files) -> None:
    """Install `files` at the deploy paths and reload; on failure restore and raise DeployError."""
    refuse_same_file(deploy.cert, deploy.key, "deploy")
    try:
        for path in (deploy.cert, deploy.key):
            path.parent.mkdir(parents=True, exist_ok=True)
        kept = {role: _keep(path) for role, path in _paths(deploy).items()}
    except (DeployError, OSError) as exc:
        for path in (deploy.cert, deploy.key):
            _previous(path).unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise DeployError(
            f"cannot keep a copy of what is at {deploy.cert} and {deploy.key} ({reason}); "
            "nothing was changed"
        ) from None
    marker = json.dumps({"installing": files.source, "kept": kept})
    write_atomic(_marker(deploy), marker.encode(), 0o600)
    try:
        _write(deploy, files.chain_pem, files.key_pem)
        reload(deploy)
    except (DeployError, OSError) as exc:
        done, _ = _roll_back(deploy)
        raise DeployError(f"deploying {files.source} failed: {exc}; {done}") from None
    _finish(deploy)


def recover(deploy: Deploy) -> str | None:
    """Roll back an install a crash interrupted: what was done, or None when none was pending."""
    if not _marker(deploy).exists():
        return None
    done, well = _roll_back(deploy)
    message = f"an interrupted install to {deploy.cert} was rolled back: {done}"
    if not well:
        raise DeployError(message)
    return message
