"""The command line's small promises: `-h` everywhere, help text as written, tables that never cut
record data, provider suggestions that exist, and errors that name a service's setting."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.helpers import Cli, needs_provider
from tlsagen.cli import app as cli_app
from tlsagen.cli import output
from tlsagen.cli.app import app
from tlsagen.provider import missing_provider

EXAMPLES = Path(__file__).parents[1] / "docs/examples"
CHAIN = EXAMPLES / "mx.example.com/fullchain.pem"


def command_paths(group: Any = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    group = group or typer.main.get_command(app)
    context = group.make_context("tlsagen", [], resilient_parsing=True)
    paths = [prefix]
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if hasattr(command, "list_commands"):  # a group: typer may vendor its own click
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_takes_dash_h(cli: Cli) -> None:
    paths = command_paths()
    assert ("rollover", "advance") in paths and ("check",) in paths
    for path in paths:
        short, long = cli(*path, "-h"), cli(*path, "--help")
        assert short.code == 0, (path, short.err)
        assert short.out == long.out and "Usage: tlsagen" in short.out


def test_help_shows_config_table_names_in_brackets(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    run = cli("check", "--help")
    assert "Default: [defaults] resolver, else the system's." in run.out


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The GitOps example (zone-file provider), its paths made absolute."""
    shutil.copy(EXAMPLES / "gitops/example.com.zone", tmp_path)
    path = tmp_path / "tlsagen.toml"
    text = (EXAMPLES / "gitops/tlsagen.toml").read_text()
    path.write_text(text.replace("../mx.example.com/fullchain.pem", str(CHAIN)))
    return path


def column(table: str, index: int, columns: int) -> str:
    """The text of one column of a rich table, its wrapped lines joined."""
    rows = [line.split("│") for line in table.splitlines()]
    return "".join(row[index].strip() for row in rows if len(row) == columns + 2)


@needs_provider("zonefile")
def test_plan_table_folds_record_data_and_never_cuts_it(
    cli: Cli, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    run = cli("plan", "--config", site)
    assert run.code == 0, run.err
    assert "…" not in run.out
    data = json.loads(cli("plan", "--config", site, "--json").out)
    records = column(run.out, 5, 5).replace(" ", "")
    for owner in data["owners"]:
        for record in owner["records"]:
            assert record["record"].split()[-1] in records


def test_a_mistyped_provider_type_suggests_a_real_one(cli: Cli, site: Path) -> None:
    site.write_text(site.read_text().replace('type = "zonefile"', 'type = "zonfile"'))
    run = cli("plan", "--config", site)
    assert run.code == 3
    assert "unknown provider type 'zonfile': did you mean 'zonefile'?" in run.err
    assert "pip install" not in run.err


def test_an_unknown_provider_type_names_no_package() -> None:
    message = missing_provider("bind9", {"zonefile": "tlsagen-zonefile 0.1.0"})
    assert "pip install" not in message and "did you mean" not in message
    shipped = "cloudflare, desec, powerdns, rfc2136, route53, zonefile"
    assert "installed: zonefile" in message and shipped in message


def test_a_shipped_provider_that_is_not_installed_names_its_package() -> None:
    message = missing_provider("route53", {"zonefile": "tlsagen-zonefile 0.1.0"})
    assert message.endswith("install it with: pip install tlsagen-route53")


@needs_provider("zonefile")
def test_a_missing_cert_names_the_service_and_the_key(cli: Cli, site: Path, tmp_path: Path) -> None:
    missing = tmp_path / "live/mx1.example.com"
    site.write_text(site.read_text().replace(str(CHAIN), str(missing)))
    run = cli("plan", "--config", site)
    assert run.code == 3
    assert run.err.startswith(f"error: service mail cert: {missing} has not been created yet;")
    assert "certbot creates the lineage directory" in run.err


@needs_provider("zonefile")
def test_an_unreadable_cert_names_the_service_and_the_key(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    site.write_text(site.read_text().replace(str(CHAIN), str(empty)))
    run = cli("plan", "--config", site)
    assert run.code == 3
    assert run.err.startswith(f"error: service mail cert: {empty}: ")


@needs_provider("zonefile")
def test_a_lineage_that_does_not_exist_yet_is_not_searched_for_a_key(
    cli: Cli, site: Path, tmp_path: Path
) -> None:
    lineage = tmp_path / "letsencrypt/live/mx1.example.com"
    lineage.parent.mkdir(parents=True)
    deploy = (
        f'deploy = {{ cert = "{tmp_path}/postfix/cert.pem", key = "{tmp_path}/postfix/key.pem", '
        'reload = ["true"] }\n'
    )
    site.write_text(site.read_text().replace(str(CHAIN), str(lineage)) + deploy)
    run = cli("plan", "--config", site, "--json")
    warnings = json.loads(run.out)["warnings"]
    said = [w for w in warnings if "nothing staged" in w]
    assert len(said) == 1, warnings
    assert f"{lineage} has not been created yet" in said[0]
    assert not re.search(r"privkey\.pem|live\.key", said[0])


def test_check_table_folds_record_data_and_never_cuts_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "80")
    record = "3 1 1 b32dde35232f42b85ce03e764c86cccbba7302e90962ab9d0b572af90f694b18"
    run = cli("check", "--chain", CHAIN, "--name", "mx1.example.com", "--tlsa", record)
    assert run.code == 0, run.err
    details = column(run.out, 3, 3).replace(" ", "")
    assert record.replace(" ", "") in details
    assert "…" not in column(run.out, 3, 3)


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--help"],
        ["generate", "cert.pem", "--hst", "mx1.example.com"],
        ["generate", "cert.pem", "--host", "mx1.example.com", "--port", "x"],
        ["--debug", "generate", "-h"],
        ["plan", "-h"],
        ["check", "--bogus"],
        ["generat"],
        ["rollover", "-h"],
    ],
)
def test_the_app_of_one_command_answers_as_the_whole_app(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """`app_for` builds only the command run (start-up time); help and usage errors are the
    same as from the app of every command."""
    one = cli(*args)
    monkeypatch.setattr(cli_app, "app_for", lambda args: app)
    assert one == cli(*args)
