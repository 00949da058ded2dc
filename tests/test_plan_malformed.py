"""`tlsagen plan` and `publish` on a hand-edited zone file whose TLSA lines are not TLSA data:
shown as stored (escaped for terminals) with the reason, then removed; other owners go on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import Cli, needs_provider
from tlsagen.cli import output

EXAMPLES = Path(__file__).parents[1] / "docs/examples"
# Typed by hand at mx1: text that is not TLSA at all, with a terminal escape sequence in it.
TYPED = "_25._tcp.mx1 IN TLSA dane-ee \x1b[2J\x07 |`x`\n"
SHOWN = "dane-ee \\x1b[2J\\x07 |`x`"
WHY = "malformed: it does not start with usage, selector and matching type (0-255)"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "gitops/tlsagen.toml", tmp_path / "tlsagen.toml")
    zone = (EXAMPLES / "gitops/example.com.zone").read_text()
    (tmp_path / "example.com.zone").write_text(zone + TYPED)
    path = tmp_path / "tlsagen.toml"
    chain = EXAMPLES / "mx.example.com/fullchain.pem"
    path.write_text(path.read_text().replace("../mx.example.com/fullchain.pem", str(chain)))
    return path


@needs_provider("zonefile")
def test_text_plan_shows_the_record_escaped_with_why(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config)
    assert run.code == 0, run.err
    assert "\x1b" not in run.out and "\x07" not in run.out
    assert f"  - {SHOWN}  ({WHY})" in run.out.splitlines()
    assert "2 of 2 owner(s) to change." in run.out


@needs_provider("zonefile")
def test_json_plan_holds_the_record_as_stored(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--json")
    assert "\x1b" not in run.out  # JSON escapes it
    mx1 = json.loads(run.out)["owners"][0]
    assert mx1["owner"] == "_25._tcp.mx1.example.com." and mx1["action"] == "update"
    assert {"state": "remove", "record": TYPED.split("TLSA ")[1].strip(), "role": WHY} in mx1[
        "records"
    ]


@needs_provider("zonefile")
def test_markdown_plan_keeps_the_table_whole(cli: Cli, config: Path) -> None:
    run = cli("plan", "--config", config, "--format", "markdown")
    row = next(line for line in run.out.splitlines() if "_25._tcp.mx1" in line)
    assert "`- dane-ee \\x1b[2J\\x07 \\|'x'` " + WHY in row
    assert row.count(" | ") == 4  # five cells: the record's | and ` do not break the table


@needs_provider("zonefile")
def test_publish_removes_the_line_and_converges(cli: Cli, config: Path) -> None:
    run = cli("publish", "--config", config)
    assert run.code == 0, run.err
    zone = (config.parent / "example.com.zone").read_text()
    assert "dane-ee" not in zone and zone.count("IN TLSA 3 1 1") == 2
    assert cli("plan", "--config", config, "--exit-code").code == 0


@needs_provider("zonefile")
def test_terminal_table_shows_the_record_escaped(
    cli: Cli, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    run = cli("plan", "--config", config)
    assert run.code == 0, run.err
    assert "\x1b" not in run.out and "\x07" not in run.out
    assert "- dane-ee \\x1b[2J\\x07 |`x`" in run.out and "malformed: it does not start" in run.out
