"""The documentation cannot drift from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_cli_reference_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts/cli_reference.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert generated == (ROOT / "docs/cli.md").read_text(), (
        "docs/cli.md is stale: run python scripts/cli_reference.py > docs/cli.md"
    )
