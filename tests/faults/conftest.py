"""The `faults` fixture, and the log of every fault and its outcome that docs/reliability.md is
made from: when $TLSAGEN_RELIABILITY_LOG names a file, each fault test that passes appends one
JSON line per fault it recorded (with its test id), and one that fails as expected (xfail) a line
with the reason."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.faults.common import LOG_ENV, Faults, SmallDisk
from tests.testbed.powerdns import powerdns, powerdns_server  # noqa: F401 (fixtures)

_FAULTS = pytest.StashKey[Faults]()


@pytest.fixture
def faults(request: pytest.FixtureRequest) -> Faults:
    found = Faults()
    request.node.stash[_FAULTS] = found
    return found


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", monkeypatch)
    yield disk
    disk.unmount()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    found = item.stash.get(_FAULTS, None)
    if report.when != "call" or found is None:
        return
    if report.passed and not found.rows:
        report.outcome = "failed"
        report.longrepr = "a fault test must record each fault it injected (faults.expect)"
    path = os.environ.get(LOG_ENV)
    if path and hasattr(report, "wasxfail"):
        entries = [{"id": item.nodeid, "xfail": report.wasxfail}]
    elif path and report.passed:
        entries = [{"id": item.nodeid, **dataclasses.asdict(row)} for row in found.rows]
    else:
        return
    with open(path, "a") as log:
        log.writelines(json.dumps(entry) + "\n" for entry in entries)
