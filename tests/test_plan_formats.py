"""`tlsagen plan --format text|json|markdown` on the shipped GitOps example (zone-file provider)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import Cli, needs_provider

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs/examples"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for name in ("example.com.zone", "tlsagen.toml"):
        shutil.copy(EXAMPLES / "gitops" / name, tmp_path / name)
    path = tmp_path / "tlsagen.toml"
    chain = EXAMPLES / "mx.example.com/fullchain.pem"
    text = path.read_text().replace("../mx.example.com/fullchain.pem", str(chain))
    path.write_text(text + f'next-key = "{EXAMPLES / "next.key"}"\n')
    return path


@needs_provider("zonefile")
def test_markdown_plan_is_a_table_for_a_pull_request(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--format", "markdown")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "### tlsagen plan"
    assert "**2 of 2 owner(s) to change.**" in lines
    header = lines.index("| owner | service | zone | action | records |")
    rows = lines[header + 2 :]
    assert len(rows) == 2
    for row, host in zip(rows, ("mx1", "mx2"), strict=True):
        cells = row.split(" | ")
        assert cells[0] == f"| `_25._tcp.{host}.example.com.`" and cells[3] == "create"
        assert cells[4].count("`+ 3 1 1 ") == 2  # current and next, each on its own line
        assert "<br>" in cells[4]


@needs_provider("zonefile")
def test_markdown_plan_after_publish_says_no_changes(cli: Cli, config: Path) -> None:
    assert cli("publish", "--config", config).code == 0
    run = cli("plan", "--config", config, "--format", "markdown", "--exit-code")
    assert run.code == 0
    assert "**No changes: all 2 owner(s) hold the desired records.**" in run.out
    assert run.out.count("| none |") == 2


@needs_provider("zonefile")
def test_json_plan_schema(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--format", "json")
    data = json.loads(run.out)
    assert data["schema"] == 1 and data["changes_pending"] is True
    owner = data["owners"][0]
    assert set(owner) == {
        "service",
        "owner",
        "zone",
        "provider",
        "action",
        "ttl",
        "records",
        "unsafe",
    }
    assert {r["state"] for r in owner["records"]} == {"add"}
    assert cli("plan", "--config", config, "--json").out == run.out


def test_unknown_format_is_a_usage_error(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--format", "yaml")
    assert run.code == 2 and "use one of text, json, markdown" in run.err and run.out == ""


@needs_provider("zonefile")
def test_pending_changes_are_not_called_an_error(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--exit-code")
    assert run.code == 8
    assert run.err.splitlines()[-1] == "changes pending: 2 owner(s) have changes pending"
    assert "error:" not in run.err
