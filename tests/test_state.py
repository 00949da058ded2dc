"""The state file: round trip, atomic 0600 writes, the lock, and damage that only delays."""

from __future__ import annotations

import json
import multiprocessing
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tlsagen.errors import ConflictError, InputError
from tlsagen.rollover import state
from tlsagen.rollover.planner import Live, Memory, Published
from tlsagen.testing import record

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
MEMORY = Memory(
    started=True,
    published={record("a"): Published(NOW, 300), record("b", "3 1 2"): Published(NOW, 60)},
    live=Live(frozenset({"ab" * 32}), NOW),
    ttl=3600,
    ttl_until=NOW,
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    state.save(path, {"mail": MEMORY, "web": Memory()})
    assert state.load(path) == {"mail": MEMORY, "web": Memory()}
    assert json.loads(path.read_text())["version"] == state.VERSION


def test_written_atomically_with_mode_0600_and_no_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state.save(path, {"mail": MEMORY})
    state.save(path, {"mail": Memory()})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_crash_while_writing_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    state.save(path, {"mail": MEMORY})

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(InputError, match="No space left"):
        state.save(path, {"mail": Memory()})
    assert state.load(path) == {"mail": MEMORY}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert state.load(tmp_path / "nothing.json") == {}


@pytest.mark.parametrize(
    "text",
    ["", "{not json", '{"services": {}}', '{"version": 1, "services": {"m": {"live": 3}}}'],
)
def test_damage_is_refused_and_the_file_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(InputError, match="move it away to start from an empty state"):
        state.load(path)
    assert path.read_text() == text


def test_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"version": 99, "services": {}}')
    with pytest.raises(InputError, match="state version 99"):
        state.load(path)


def test_default_path_for_root_and_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert state.default_path() == Path("/var/lib/tlsagen/state.json")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", "/home/u/.state")
    assert state.default_path() == Path("/home/u/.state/tlsagen/state.json")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert state.default_path() == Path("/home/u/.local/state/tlsagen/state.json")


def test_put_writes_only_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with state.locked(path) as held:
        held.remember({"mail": MEMORY})
        written = path.stat().st_mtime_ns
        time.sleep(0.01)
        held.remember({"mail": MEMORY})
        assert path.stat().st_mtime_ns == written
    reading = state.StateFile(path, writable=False)
    reading.remember({"mail": Memory()})
    assert state.load(path) == {"mail": MEMORY}


def _hold(path: Path, seconds: float, ready: multiprocessing.synchronize.Event) -> None:
    with state.locked(path):
        ready.set()
        time.sleep(seconds)


def test_the_lock_serialises_runs_and_times_out(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    ready = multiprocessing.get_context("fork").Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold, args=(path, 1.0, ready))
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(ConflictError, match="another tlsagen run"),
            state.locked(path, timeout=0.2),
        ):
            pass
        started = time.monotonic()
        with state.locked(path, timeout=10):
            assert time.monotonic() - started > 0.3  # it waited for the holder
    finally:
        holder.join(10)
    assert stat.S_IMODE((tmp_path / "state.json.lock").stat().st_mode) == 0o600
