"""A reviewer who reads only `plan --json` or the Markdown PR comment sees every warning that
stderr shows: here that the hosted zone (on a real moto_server) is not DNSSEC-signed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tlsagen.cli.app import main

EXAMPLE = Path(__file__).parents[3] / "docs/examples/mx.example.com/fullchain.pem"
UNSIGNED = re.compile(r"hosted zone example\.com\. \(\w+\) is not DNSSEC-signed .*does nothing.*")


@pytest.fixture
def site(moto: str, create_zone: Callable[..., str], tmp_path: Path) -> Path:
    create_zone("example.com.")
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[providers.aws]\ntype = 'route53'\nendpoint-url = '{moto}'\ntimeout = 30\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.com']\ncert = '{EXAMPLE}'\n"
    )
    return path


def plan(capsys: pytest.CaptureFixture[str], site: Path, *args: str) -> tuple[str, str]:
    code = main(["plan", "--config", str(site), *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_json_plan_carries_the_unsigned_zone_warning(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = plan(capsys, site, "--json")
    assert UNSIGNED.search(err)
    warnings = json.loads(out)["warnings"]
    assert len([w for w in warnings if UNSIGNED.fullmatch(w)]) == 1


def test_markdown_plan_shows_the_warning_above_the_table(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = plan(capsys, site, "--format", "markdown")
    lines = out.splitlines()
    warned = [i for i, line in enumerate(lines) if UNSIGNED.fullmatch(line, len("> **Warning:** "))]
    assert len(warned) == 1
    assert warned[0] < lines.index("| owner | service | zone | action | records |")
