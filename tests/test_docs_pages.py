"""The hand-written documentation pages: every example runs as shown, every exit code is listed,
every link leads to a file.

Only ```console blocks are run: commands that need a live DNS or mail server are shown in ```sh
blocks, and their output in ```text blocks, so that no page claims a test it does not have."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Cli, Run, needs_provider
from tlsagen.errors import EXIT_CODES
from tlsagen.rollover import state

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def console_examples(page: Path) -> list[tuple[str, str]]:
    """(command, what it prints) for each `$ ` line of the page's ```console blocks."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"^```console\n(.*?)^```$", page.read_text(), re.M | re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, shown = chunk.partition("\n")
            examples.append((command, shown))
    return examples


GENERATE_EXAMPLES = console_examples(DOCS / "generate.md")


def test_the_generate_page_has_examples() -> None:
    assert len(GENERATE_EXAMPLES) >= 10


@pytest.fixture(scope="module", autouse=True)
def private_example_keys() -> None:
    """git checks the example keys out readable by all; the page says to chmod them first."""
    for key in (DOCS / "examples").glob("*.key"):
        key.chmod(0o600)


@pytest.mark.parametrize(("command", "shown"), GENERATE_EXAMPLES, ids=lambda value: value[:60])
def test_generate_example_prints_what_the_page_shows(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: str, shown: str
) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)
    if "<" in args:  # `... < FILE`: the file on standard input
        args, stdin = args[: args.index("<")], args[-1]
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(Path(stdin).read_bytes())))
    assert args[0] == "tlsagen"
    run = cli(*args[1:])
    assert run.err + run.out == shown


# Every other page with ```console blocks runs them in order, in a fresh copy of docs/examples:
# the commands see that copy where the repository has it (so `publish` edits a copy of the example
# zone file), and each example sees what the ones before it did. Besides `tlsagen`, a block may use
# `cd DIR` (for the commands after it), `grep` and `cat`. A command that fails shows its exit code
# with `; echo "exit $?"`; every other command must succeed.
SESSION_PAGES = sorted(
    page.relative_to(DOCS).as_posix()
    for page in DOCS.rglob("*.md")
    if page.name != "generate.md" and console_examples(page)
)
SHOW_EXIT = '; echo "exit $?"'
SHELL_COMMANDS = ("grep", "cat")


def test_the_pages_written_for_users_run_their_examples() -> None:
    for page in ("quickstart.md", "concepts.md", "gitops.md", "troubleshooting.md"):
        assert page in SESSION_PAGES


def _run_tlsagen(cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Run:
    if "<" in args:  # `... < FILE`: the file on standard input
        args, stdin = args[: args.index("<")], args[-1]
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(Path(stdin).read_bytes())))
    return cli(*args[1:])


def _run_shell(args: list[str]) -> Run:
    assert args[0] in SHELL_COMMANDS, f"the docs tests do not run {args[0]}"
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def _shows(run: Run, shown: str, exit_shown: bool) -> bool:
    """Standard error is shown before standard output or after it, as a terminal shows it."""
    tail = f"exit {run.code}\n" if exit_shown else ""
    return shown in (run.err + run.out + tail, run.out + run.err + tail)


@needs_provider("zonefile")
@pytest.mark.parametrize("page", SESSION_PAGES)
def test_page_examples_print_what_the_page_shows(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str
) -> None:
    shutil.copytree(DOCS / "examples", tmp_path / "docs" / "examples")
    monkeypatch.setattr(state, "ROOT_PATH", tmp_path / "state" / "state.json")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("TLSAGEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for command, shown in console_examples(DOCS / page):
        exit_shown = command.endswith(SHOW_EXIT)
        args = shlex.split(command.removesuffix(SHOW_EXIT))
        if args[0] == "cd":
            monkeypatch.chdir(Path.cwd() / args[1])
            assert not shown, f"{page}: cd prints nothing"
            continue
        run = _run_tlsagen(cli, monkeypatch, args) if args[0] == "tlsagen" else _run_shell(args)
        assert _shows(run, shown, exit_shown), (
            f"{page}: `{command}` printed (exit {run.code}):\n{run.err}{run.out}"
        )
        assert exit_shown or run.code == 0, f"{page}: `{command}` exited {run.code}: {run.err}"


def test_exit_codes_page_lists_every_code() -> None:
    text = (DOCS / "exit-codes.md").read_text()
    listed = dict(re.findall(r"^\| (\d+) \| ([^|]+?) \|$", text, re.M))
    assert {int(code): meaning for code, meaning in listed.items()} == EXIT_CODES
    by_command = re.findall(r"^\| (\d+) \| [^|]+ \| [^|]+ \|", text, re.M)
    assert sorted(set(map(int, by_command))) == sorted(EXIT_CODES)


PAGES = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md"))


def test_the_index_links_every_page() -> None:
    linked = set(re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", (DOCS / "index.md").read_text()))
    pages = {page for page in PAGES if not page.startswith("examples/")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not link {sorted(pages - linked)}"


@pytest.mark.parametrize("page", [*PAGES, "../README.md"])
def test_links_lead_to_files(page: str) -> None:
    path = DOCS / page
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text())
    for target in targets:
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (path.parent / target).exists(), f"{page} links to {target}, which does not exist"
