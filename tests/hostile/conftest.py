"""The `hostile` fixture: each hostile-server test checks a run of the real CLI against a rogue
server (its exit code, its time and memory bounds, its one-line error) and records it. When
$TLSAGEN_RELIABILITY_LOG names a file, each test that passes appends one JSON line per run it
recorded, from which scripts/reliability_table.py writes the hostile rows of docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Generator

import pytest

from tests.faults.common import LOG_ENV
from tests.hostile.rogue import Bounded

MAX_RSS_MIB = 100.0


@dataclasses.dataclass(frozen=True)
class HostileRow:
    """One rogue server a test ran tlsagen against, and what came of it."""

    server: str  # "resolver", "RFC 2136 primary", "SMTP server", ...
    fault: str
    command: str
    code: int
    limit: float  # seconds the run had to end within


class Hostile:
    def __init__(self) -> None:
        self.rows: list[HostileRow] = []

    def expect(
        self, server: str, fault: str, command: str, run: Bounded, code: int, limit: float
    ) -> None:
        """The run ended with `code` within `limit` seconds and under MAX_RSS_MIB, and a failure
        said so in one `error:` line without a traceback; record the row."""
        assert run.code == code, f"exit {run.code}, expected {code}: {run.err}"
        assert run.seconds < limit, f"{run.seconds:.1f} s, over {limit} s"
        assert run.max_rss_mib < MAX_RSS_MIB, f"{run.max_rss_mib:.0f} MiB"
        assert "Traceback" not in run.err, run.err
        if code:
            errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1, run.err
        self.rows.append(HostileRow(server, fault, command, code, limit))


_HOSTILE = pytest.StashKey[Hostile]()


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Hostile:
    found = Hostile()
    request.node.stash[_HOSTILE] = found
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    found = item.stash.get(_HOSTILE, None)
    if report.when != "call" or found is None or not report.passed:
        return
    if not found.rows:
        report.outcome = "failed"
        report.longrepr = "a hostile-server test must record each run (hostile.expect)"
    elif path := os.environ.get(LOG_ENV):
        with open(path, "a") as log:
            for row in found.rows:
                log.write(json.dumps({"id": item.nodeid, **dataclasses.asdict(row)}) + "\n")
