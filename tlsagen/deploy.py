"""Installing a certificate where the server reads it, and reloading the server.

The deploy paths are written only by tlsagen. An install is a small transaction kept in files next
to the deployed key, so that it survives a crash even without the state file:

1. copy the files in place to FILE.tlsagen-previous, then write KEY.tlsagen-pending (the marker);
2. replace the certificate and the key, each atomically (the key with mode 0600);
3. run the reload command (an argv list, no shell) with a timeout;
4. on success remove the copies and the marker; on failure put the copies back (or remove the new
   files when there were none), reload once more and report.

A run that finds the marker (a crash between 1 and 4) rolls back the same way (`recover`); the
rollover then installs the certificate again, as its gate has already passed.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tlsagen import material
from tlsagen.config import Deploy, Service
from tlsagen.config_values import child_environment
from tlsagen.errors import DeployError, InputError
from tlsagen.files import sync_directory, write_atomic

PREVIOUS = ".tlsagen-previous"
PENDING = ".tlsagen-pending"
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


def _restore(deploy: Deploy) -> None:
    """Put the copies back, or remove the new files when the install found none."""
    kept = json.loads(_marker(deploy).read_text() or "{}").get("previous", False)
    for path, mode in ((deploy.key, KEY_MODE), (deploy.cert, CERT_MODE)):
        copy = _previous(path)
        if kept and copy.exists():
            write_atomic(path, _read_no_link(copy), mode, owner_of=copy)
        elif not kept:
            path.unlink(missing_ok=True)


def _read_no_link(path: Path) -> bytes:
    """A copy tlsagen made itself: never follow a link planted in its place."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise DeployError(
            f"cannot restore from {path} ({exc.strerror}); restore it by hand"
        ) from None
    with os.fdopen(fd, "rb") as copy:
        return copy.read()


def _finish(deploy: Deploy) -> None:
    for path in (deploy.key, deploy.cert):
        _previous(path).unlink(missing_ok=True)
    _marker(deploy).unlink(missing_ok=True)
    sync_directory(deploy.key.parent)


def _roll_back(deploy: Deploy) -> str | None:
    """Put the previous files back and reload; the reload's error, if it failed too."""
    _restore(deploy)
    try:
        reload(deploy)
        failed = None
    except DeployError as exc:
        failed = str(exc)
    _finish(deploy)
    return failed


def _restored(failed: str | None) -> str:
    if failed is None:
        return "the previous files are back in place and the server was reloaded with them"
    return f"the previous files are back in place, but reloading failed too ({failed})"


def install(deploy: Deploy, files: Files) -> None:
    """Install `files` at the deploy paths and reload; on failure restore and raise DeployError."""
    for path in (deploy.cert, deploy.key):
        path.parent.mkdir(parents=True, exist_ok=True)
    old = _read_if_present(deploy.cert, deploy.key)
    if old is not None:
        write_atomic(_previous(deploy.key), old.key_pem, KEY_MODE, owner_of=deploy.key)
        write_atomic(_previous(deploy.cert), old.chain_pem, CERT_MODE, owner_of=deploy.cert)
    marker = json.dumps({"previous": old is not None, "installing": files.source})
    write_atomic(_marker(deploy), marker.encode(), 0o600)
    try:
        _write(deploy, files.chain_pem, files.key_pem)
        reload(deploy)
    except (DeployError, OSError) as exc:
        failed = _roll_back(deploy)
        raise DeployError(f"deploying {files.source} failed: {exc}; {_restored(failed)}") from None
    _finish(deploy)


def recover(deploy: Deploy) -> str | None:
    """Roll back an install a crash interrupted: what was done, or None when none was pending."""
    if not _marker(deploy).exists():
        return None
    failed = _roll_back(deploy)
    message = f"an interrupted install to {deploy.cert} was rolled back: {_restored(failed)}"
    if failed is not None:
        raise DeployError(message)
    return message
