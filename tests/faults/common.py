"""What the fault tests share: running the CLI, the one-line error, what DNS holds afterwards."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helpers import Run
from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.net import dns as tdns
from tlsagen.provider import Endpoint

T = TypeVar("T")

ROOT = Path(__file__).parents[2]
CERT = ROOT / "docs/examples/mx.example.com/fullchain.pem"
NEXT_KEY = ROOT / "docs/examples/next.key"

LOG_ENV = "TLSAGEN_RELIABILITY_LOG"  # a file: each fault test appends what it saw (JSON lines)
FULL_ENV = "TLSAGEN_FAULTS_FULL"  # set: run the long fault tests too
long_run = pytest.mark.skipif(
    not os.environ.get(FULL_ENV), reason=f"long: set {FULL_ENV}=1 (scripts/reliability_table.py)"
)

# What DNS (or the zone file) holds for a change set after the faulty run.
OLD = "unchanged"
NEW = "changed"
EITHER = "unchanged or changed, whole"


def case_id(*parts: str) -> str:
    """A test id of words: `bind-apply_read_back-server_hangs`."""
    return "-".join(parts).replace(":", "").replace(" ", "_")


def record_of(source: Path) -> str:
    return compute(material.read_source(str(source)), Params(3, 1, 1)).to_text()


OLD_RECORDS = frozenset({record_of(CERT)})
NEW_RECORDS = frozenset({record_of(CERT), record_of(NEXT_KEY)})
STATES = {OLD: OLD_RECORDS, NEW: NEW_RECORDS}


def held_state(found: list[frozenset[str]], states: dict[str, frozenset[str]] | None = None) -> str:
    """The state (OLD or NEW, or one of `states`) every owner of a change set holds, given what
    each holds; AssertionError for a mixture."""
    named = {records: name for name, records in (states or STATES).items()}
    held = {named.get(records, repr(records)) for records in found}
    assert len(held) == 1 and held <= set(named.values()), f"a change set half applied: {found}"
    return held.pop()


def settled(read: Callable[[], T], within: float = 5.0) -> T:
    """What `read` returns twice in a row, 0.1 s apart: reading owners one query at a time is
    no snapshot, and a server may still be applying an UPDATE (or signing it)."""
    deadline = time.monotonic() + within
    last = read()
    while True:
        time.sleep(0.1)
        found = read()
        if found == last or time.monotonic() > deadline:
            return found
        last = found


def served(server: Endpoint, owners: Sequence[Owner]) -> list[frozenset[str]]:
    """The TLSA records `server` serves at each owner (settled)."""

    def read() -> list[frozenset[str]]:
        found = [tdns.tlsa_at(server, owner) for owner in owners]
        return [frozenset(rr.texts()) if rr else frozenset() for rr in found]

    return settled(read)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return Run(code, out, err)


def error_line(run: Run) -> str:
    """The failure's message: one `error: ` line, the last of standard error, no traceback."""
    lines = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err and run.err.rstrip("\n").endswith(lines[0]), run.err
    return lines[0]


@dataclass(frozen=True)
class Row:
    """One fault a test injected, and what came of it (a row of docs/reliability.md)."""

    provider: str
    step: str
    fault: str
    code: int | str  # the exit code; negative: killed by that signal; "0 or 5": either
    held: str  # OLD, NEW or EITHER
    lost: str = "none"


class Faults:
    """The `faults` fixture: a fault test records each fault it injected, once it has checked
    the outcome (exit code, the one-line message, what DNS holds, the converging re-run)."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def record(self, provider: str, step: str, fault: str, code: int | str, held: str) -> None:
        self.rows.append(Row(provider, step, fault, code, held))

    def expect(
        self, provider: str, step: str, fault: str, run: Run, code: int, held: str
    ) -> str | None:
        """Check the run's exit code (and its one-line error), record the row, and return the
        error line (None on success)."""
        assert run.code == code, f"exit {run.code}, expected {code}: {run.err}"
        line = error_line(run) if code else None
        self.record(provider, step, fault, code, held)
        return line


_FSYNC = os.fsync


def _no_space(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class SmallDisk:
    """A directory on a 64 KiB tmpfs of its own, when the tests may mount one; else a plain
    directory where a full disk is simulated (every fsync fails with ENOSPC) and a read-only one
    by its mode (which root ignores: then the test is skipped)."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self.monkeypatch = monkeypatch
        path.mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(path)]
        self.mounted = subprocess.run(mount, capture_output=True, check=False).returncode == 0

    def fill(self) -> None:
        """No space left on the device."""
        if not self.mounted:
            self.monkeypatch.setattr(os, "fsync", _no_space)
            return
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, bytes(4096)):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)

    def empty(self) -> None:
        if self.mounted:
            (self.path / "filler").unlink()
        else:
            self.monkeypatch.setattr(os, "fsync", _FSYNC)

    def freeze(self) -> None:
        """Read-only."""
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)
        elif os.geteuid() != 0:
            self.path.chmod(0o555)
        else:
            pytest.skip("root without mount: cannot make a directory read-only")

    def thaw(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)
        else:
            self.path.chmod(0o755)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=True)
