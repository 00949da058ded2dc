"""docs/reliability.md cannot drift from the fault and hostile-server tests: it lists each of
them, and no other."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.faults.common import ROOT
from tests.helpers import needs_provider
from tlsagen.provider import KNOWN


@needs_provider(*KNOWN)  # the fault tests of every provider are collected
def test_reliability_page_lists_every_fault_test() -> None:
    collect = ["--collect-only", "-q", "-p", "no:cacheprovider", "tests/faults", "tests/hostile"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", *collect],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tests = {
        line
        for line in collected.splitlines()
        if "/test_faults_" in line or "/test_hostile_" in line
    }
    listed = set(
        re.findall(
            r"`(tests/(?:faults/test_faults|hostile/test_hostile)_[^`]+)`",
            (ROOT / "docs/reliability.md").read_text(),
        )
    )
    assert tests, collected
    assert listed == tests, (
        "docs/reliability.md is stale: run python scripts/reliability_table.py "
        f"(missing: {sorted(tests - listed)[:5]}, gone: {sorted(listed - tests)[:5]})"
    )
