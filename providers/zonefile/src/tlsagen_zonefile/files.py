"""Reading zone files, and replacing one atomically once a check command has accepted it."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tlsagen.provider import ConflictError, ProviderError, child_environment, sync_directory

CHECK_TIMEOUT = 60.0  # seconds


def read_text(path: Path) -> str:
    """The file's text; bytes that are not UTF-8 survive a round trip unchanged."""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise ProviderError(f"cannot read {path}: {exc.strerror}") from None


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def digest(texts: Mapping[Path, str]) -> str:
    """One hash of several files' paths and contents."""
    hashed = hashlib.sha256()
    for path, text in texts.items():
        data = encode(text)
        hashed.update(f"{path}\0{len(data)}\0".encode())
        hashed.update(data)
    return hashed.hexdigest()


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` for the block, so that tlsagen runs editing its zone
    files take turns: a file's compare-and-swap check and its rename are then one step for them
    (another editor, which does not lock, is still caught by the check)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ProviderError(f"cannot open {directory} to lock it: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def replace_file(
    path: Path, text: str, check_command: Sequence[str], unchanged: Callable[[], bool]
) -> None:
    """Write `text` to a temporary file beside `path` with the same mode (and owner, as root),
    run the check command on it, then rename it over `path` if `unchanged()` still holds.
    A file system error (no space, read-only) leaves `path` as it was: ProviderError."""
    temporary: Path | None = None
    try:
        info = path.stat()
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tlsagen")
        temporary = Path(name)
        with os.fdopen(fd, "wb") as out:
            out.write(encode(text))
            out.flush()
            os.fchmod(out.fileno(), stat.S_IMODE(info.st_mode))
            if os.geteuid() == 0:
                os.fchown(out.fileno(), info.st_uid, info.st_gid)
            os.fsync(out.fileno())
        if check_command:
            _check(path, [arg.replace("{file}", name) for arg in check_command])
        if not unchanged():
            raise ConflictError(f"{path} changed while tlsagen was editing it; nothing was written")
        os.replace(temporary, path)
    except BaseException as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ProviderError(
                f"cannot write the new {path} ({exc.strerror or exc}); it is unchanged"
            ) from None
        raise
    sync_directory(path.parent)


def _check(path: Path, argv: list[str]) -> None:
    """Run the check command in the zone file's directory (where relative $INCLUDEs resolve)."""
    command = shlex.join(argv)
    try:
        result = subprocess.run(
            argv,
            cwd=path.parent,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except OSError as exc:
        raise ProviderError(f"check-command {command}: {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise ProviderError(
            f"check-command {command} did not finish in {CHECK_TIMEOUT:.0f} s; {path} is unchanged"
        ) from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ProviderError(
            f"check-command {command} rejected the new zone (exit status {result.returncode}); "
            f"{path} is unchanged" + (f":\n{output}" if output else "")
        )
