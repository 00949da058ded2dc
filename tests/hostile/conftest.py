"""The `hostile` fixture: each hostile-server test checks a run of the real CLI against a rogue
server (its exit code, its time and memory bounds, its one-line error) and records it. The fault
tests' hook logs the rows (to $TLSAGEN_RELIABILITY_LOG), from which scripts/reliability_table.py
writes the hostile rows of docs/reliability.md.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.faults.common import error_line
from tests.faults.conftest import _FAULTS
from tests.faults.conftest import pytest_runtest_makereport as pytest_runtest_makereport
from tests.hostile.rogue import Bounded
from tests.testbed.tiers import starts_servers

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
        if code:
            error_line(run)  # type: ignore[arg-type]  # a Run by its fields
        assert "Traceback" not in run.err, run.err
        self.rows.append(HostileRow(server, fault, command, code, limit))


@pytest.fixture
@starts_servers  # a tlsagen process against a rogue server, real timeouts: the `servers` tier
def hostile(request: pytest.FixtureRequest) -> Hostile:
    found = Hostile()
    request.node.stash[_FAULTS] = found  # type: ignore[assignment]  # the hook reads `rows` only
    return found
