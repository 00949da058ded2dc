"""Writing files so that a crash leaves either the old or the new content, never a mixture."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int, owner_of: Path | None = None) -> None:
    """Replace `path` with `data` through a temporary file in its directory, fsync and rename.

    The file gets `mode` from its creation on; with `owner_of`, also that file's owner and group
    when it exists and the process may give them (as root: no one else may).
    """
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if (
            os.geteuid() == 0
            and owner_of is not None
            and owner_of.exists()
            and not owner_of.is_symlink()
        ):
            stat = owner_of.stat(follow_symlinks=False)
            if (stat.st_uid, stat.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(fd, stat.st_uid, stat.st_gid)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
