"""The CI examples for users' DNS repositories (docs/examples/github-actions, gitlab-ci) and the
commands the docs show without running them: the workflows parse, every action is pinned to a
commit, every `tlsagen` command they (or a ```sh block of the docs) run exists with the options
given, and the example configuration loads."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from tlsagen import __version__, config
from tlsagen.cli.app import app

pytest.importorskip("tlsagen_rfc2136")  # checks the docs against this provider
from tlsagen_rfc2136.config import parse_settings

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
GITHUB = DOCS / "examples" / "github-actions"
GITLAB = DOCS / "examples" / "gitlab-ci" / ".gitlab-ci.yml"
WORKFLOWS = sorted(GITHUB.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SHELL_SYNTAX = re.compile(r"\s(?:[0-9]?>|<|\||&&|;)|\)")  # where a shell command ends


def test_the_examples_exist() -> None:
    assert [p.name for p in WORKFLOWS] == ["tlsa-plan.yml", "tlsa-publish.yml"]
    assert (GITHUB / "README.md").is_file() and (GITHUB / "tlsagen.toml").is_file()
    assert GITLAB.is_file()


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a parsed YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_github_workflow_parses_and_pins_every_action(path: Path) -> None:
    data = load(path)
    assert data["jobs"] and data["permissions"], "a workflow should state its permissions"
    uses = [value for key, value in walk(data) if key == "uses"]
    assert uses
    for action in uses:
        assert PINNED.match(action), f"{action} is not pinned to a full commit SHA"
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), f"no version comment: {line.strip()}"


def test_gitlab_pipeline_parses() -> None:
    data = load(GITLAB)
    assert set(data["stages"]) == {"plan", "publish"}
    assert data["tlsa-plan"]["stage"] == "plan" and data["tlsa-publish"]["stage"] == "publish"


def shell_scripts() -> list[tuple[str, str]]:
    """(where, script) for every `run:` of the workflows and `script:` line of the pipeline."""
    found = []
    for path in [*WORKFLOWS, GITLAB]:
        for key, value in walk(load(path)):
            if key in ("run", "script", "before_script"):
                for script in value if isinstance(value, list) else [value]:
                    found.append((path.name, str(script)))
    return found


def commands_in(text: str) -> list[str]:
    """Each `tlsagen ...` command of a shell text, up to where shell syntax takes over."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        for match in re.finditer(r"(?:^\s*|[;(&|]\s*|\bexec\s+)(tlsagen\s[^#\n]*)", line):
            found.append(SHELL_SYNTAX.split(match.group(1))[0].strip())
    return found


def cli_command(words: list[str]) -> tuple[Any, list[str]]:
    """The click command `tlsagen WORDS...` runs, and the options it may take."""
    command: Any = typer.main.get_command(app)
    options = [o for p in command.params for o in (*p.opts, *p.secondary_opts)]
    for word in words:
        subcommands = getattr(command, "commands", None)  # a group: tlsagen, tlsagen rollover
        if word.startswith("-") or subcommands is None:
            break
        assert word in subcommands, f"tlsagen has no command {word!r}"
        command = subcommands[word]
        options += [o for p in command.params for o in (*p.opts, *p.secondary_opts)]
    return command, [*options, "--help"]


def assert_runs_in_the_cli(command: str) -> None:
    words = shlex.split(command)[1:]
    assert words, command
    _, options = cli_command(words)
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"`{command}`: no option {word}"


def test_the_ci_examples_run_plan_and_publish() -> None:
    commands = [c for _, script in shell_scripts() for c in commands_in(script)]
    assert any(c.startswith("tlsagen plan") and "--format markdown" in c for c in commands)
    assert any(c.startswith("tlsagen publish") for c in commands)
    for command in commands:
        assert_runs_in_the_cli(command)


def sh_blocks() -> list[tuple[str, str]]:
    """(page, command) for every `tlsagen` command in the ```sh blocks of the docs and README."""
    found = []
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for block in re.findall(r"^ *```sh\n(.*?)^ *```$", page.read_text(), re.M | re.S):
            for command in commands_in(block):
                found.append((page.relative_to(ROOT).as_posix(), command))
    return found


SH_COMMANDS = sh_blocks()


def test_the_docs_show_commands_for_live_servers() -> None:
    pages = {page for page, _ in SH_COMMANDS}
    assert {"docs/quickstart.md", "README.md"} <= pages


@pytest.mark.parametrize(("page", "command"), SH_COMMANDS, ids=lambda v: v[:50])
def test_command_shown_in_the_docs_exists(page: str, command: str) -> None:
    assert_runs_in_the_cli(command)


def test_examples_install_this_version() -> None:
    for path in [*WORKFLOWS, GITLAB]:
        pins = re.findall(r"\btlsagen(?:-\w+)?==([\w.]+)", path.read_text())
        assert pins, f"{path.name} should pin the tlsagen version it was written for"
        assert set(pins) == {__version__}, path.name


def test_example_configuration_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the workflows run it: the TSIG secret from the environment, no server reached."""
    monkeypatch.setenv("TSIG_SECRET", "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3Jl")
    loaded = config.load(GITHUB / "tlsagen.toml")
    assert [s.name for s in loaded.services] == ["mail"]
    provider = loaded.providers["primary"]
    assert provider.kind == "rfc2136"
    assert parse_settings(provider.settings).key.name == "tlsagen-key."
