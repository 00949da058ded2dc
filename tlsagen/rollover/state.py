"""The state file: what tlsagen remembers between runs, in one versioned JSON file.

It holds, per service, when each record was first seen on every authoritative server and since
when the server presents its key (see rollover.Memory). Writes are atomic (a temporary file in
the same directory, fsync, rename; mode 0600), and a run that changes it holds an exclusive
`fcntl.flock` on `STATE.lock` from its first read to its last write, so a renewal hook and a
timer never interleave. A missing file is an empty state. A damaged one is refused and left as
it is: starting afresh would forget which services are under rollover, so that is the user's
call (move the file away).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlsagen.config_values import MAX_INT, refuse_shared_directories
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, InputError, TlsagenError
from tlsagen.files import write_atomic
from tlsagen.rollover.planner import Live, Memory, Published

if TYPE_CHECKING:
    from tlsagen.config import Service

VERSION = 1
ROOT_PATH = Path("/var/lib/tlsagen/state.json")
LOCK_TIMEOUT = 600.0

Memories = dict[str, Memory]


def default_path() -> Path:
    """/var/lib/tlsagen/state.json for root, else $XDG_STATE_HOME/tlsagen/state.json."""
    if os.geteuid() == 0:
        return ROOT_PATH
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tlsagen" / "state.json"


def next_key_path(state_path: Path, service: str) -> Path:
    """Where `rollover start` keeps the next key it generates for a service without `next-key`."""
    return state_path.parent / "keys" / f"{service}.next.key"


# --- (de)serialisation ---------------------------------------------------------------------------


# The gates add up to 2 x the largest TTL plus the margin (under 200 years) to these times.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without a zone: {text}")
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"time {text} is not between 1970 and 9000")
    return value


def _ttl(value: Any) -> int:
    ttl = int(value)
    if not 0 <= ttl <= MAX_INT:
        raise ValueError(f"TTL {value} is not between 0 and {MAX_INT}")
    return ttl


def _key_ids(text: Any) -> frozenset[str]:
    """The key ids of a state file's `live.keys`: sorted, joined by ","."""
    return frozenset(str(text).split(","))


def _memory(data: Mapping[str, Any]) -> Memory:
    published = {
        TLSAData.from_text(item["record"]): Published(_time(item["since"]), _ttl(item["ttl"]))
        for item in data.get("published", [])
    }
    live = data.get("live")
    return Memory(
        started=bool(data.get("managed", False)),
        published=published,
        live=Live(_key_ids(live["keys"]), _time(live["since"])) if live else None,
        ttl=_ttl(data["ttl"]) if data.get("ttl") is not None else None,
        ttl_until=_time(data["ttl_until"]) if data.get("ttl_until") else None,
    )


def _memory_json(memory: Memory) -> dict[str, Any]:
    return {
        "managed": memory.started,  # the name files have held since version 1
        "ttl": memory.ttl,
        "ttl_until": memory.ttl_until.isoformat() if memory.ttl_until else None,
        "live": (
            {"keys": ",".join(sorted(memory.live.keys)), "since": memory.live.since.isoformat()}
            if memory.live
            else None
        ),
        "published": [
            {"record": record.to_text(), "since": seen.since.isoformat(), "ttl": seen.ttl}
            for record, seen in sorted(memory.published.items())
        ],
    }


DAMAGED_HINT = (
    "it was left as it is; move it away to start from an empty state (rollover steps then wait "
    "as after a first run; run 'tlsagen rollover start' again for the services it managed)"
)


def parse(text: str, where: str) -> Memories:
    """The memories in a state file's text; InputError when it is damaged or from a newer
    tlsagen."""
    try:
        data = json.loads(text)
        version = data["version"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise InputError(f"{where} is not a tlsagen state file; {DAMAGED_HINT}") from None
    if version != VERSION:
        raise InputError(
            f"{where}: state version {version} is not {VERSION} (written by another tlsagen "
            "version); upgrade tlsagen, or move the file away to start from an empty state"
        )
    try:
        return {name: _memory(item) for name, item in data.get("services", {}).items()}
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, TlsagenError) as exc:
        raise InputError(f"{where} is damaged ({exc}); {DAMAGED_HINT}") from None


def render(memories: Mapping[str, Memory]) -> str:
    services = {name: _memory_json(m) for name, m in sorted(memories.items())}
    return json.dumps({"version": VERSION, "services": services}, indent=2) + "\n"


# --- files ---------------------------------------------------------------------------------------


def load(path: Path) -> Memories:
    """The memories in `path`; empty when the file does not exist. Refused below a directory
    another user may write to, as a configured file is: its times open the gates."""
    refuse_shared_directories(path, "state file")
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")  # damage is handled by parse
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"{path}: cannot read the state file ({exc.strerror})") from None
    return parse(text, str(path))


def _make_dir(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the state directory {path.parent} ({exc.strerror}); "
            "set [defaults] state to a writable path"
        ) from None
    refuse_shared_directories(path, "state file")


def save(path: Path, memories: Mapping[str, Memory]) -> None:
    _make_dir(path)
    try:
        write_atomic(path, render(memories).encode(), 0o600)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the state file ({exc.strerror})") from None


class StateFile:
    """The state as read; `remember` writes it back, once per call, when it is `writable` (under
    the lock)."""

    def __init__(self, path: Path, writable: bool) -> None:
        self.path = path
        self.writable = writable
        self.memories = load(path)

    def get(self, service: str) -> Memory:
        return self.memories.get(service, Memory())

    def remember(self, memories: Mapping[str, Memory]) -> None:
        """Remember each service's memory, and write the file once if that changed anything."""
        changed = {name: m for name, m in memories.items() if self.memories.get(name) != m}
        if changed:
            self.memories.update(changed)
            if self.writable:
                save(self.path, self.memories)


@contextmanager
def locked(
    path: Path,
    timeout: float = LOCK_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StateFile]:
    """Hold the exclusive lock on the state for the block; ConflictError after `timeout` s."""
    _make_dir(path)
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        hint = "it is a symbolic link; remove it" if exc.errno == errno.ELOOP else exc.strerror
        raise InputError(f"{lock_path}: cannot open the lock file ({hint})") from None
    try:
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise ConflictError(
                        f"another tlsagen run holds {lock_path} since more than {timeout:.0f} s; "
                        "nothing was done, run again later"
                    ) from None
                sleep(0.1)
        yield StateFile(path, writable=True)
    finally:
        os.close(fd)  # closing releases the lock


def under_rollover(service: Service, memory: Memory) -> bool:
    """The one meaning of "under rollover": tlsagen deploys the service's certificates, or
    `rollover start` or a renewal hook started its rollover (`Memory.started`). Such a service
    is observed (its server probed, every authoritative server asked), its memory is kept, and
    its former keys' records are retired once their gate opens; any other has its records
    mirror its configured keys."""
    return service.deploy is not None or memory.started
