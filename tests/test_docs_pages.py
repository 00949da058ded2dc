"""The hand-written documentation pages: every example runs as shown, every exit code is listed,
every link leads to a file."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers import Cli
from tlsagen.errors import EXIT_CODES

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def console_examples(page: Path) -> list[tuple[str, str]]:
    """(command, what it prints) for each `$ ` line of the page's ```console blocks."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"^```console\n(.*?)^```$", page.read_text(), re.M | re.S):
        for chunk in block.split("$ ")[1:]:
            command, _, shown = chunk.partition("\n")
            examples.append((command, shown))
    return examples


GENERATE_EXAMPLES = console_examples(DOCS / "generate.md")


def test_the_generate_page_has_examples() -> None:
    assert len(GENERATE_EXAMPLES) >= 10


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


def test_exit_codes_page_lists_every_code() -> None:
    text = (DOCS / "exit-codes.md").read_text()
    listed = dict(re.findall(r"^\| (\d+) \| ([^|]+?) \|$", text, re.M))
    assert {int(code): meaning for code, meaning in listed.items()} == EXIT_CODES
    by_command = re.findall(r"^\| (\d+) \| [^|]+ \| [^|]+ \|", text, re.M)
    assert sorted(set(map(int, by_command))) == sorted(EXIT_CODES)


PAGES = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", PAGES)
def test_links_lead_to_files(page: str) -> None:
    path = DOCS / page
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text())
    for target in targets:
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (path.parent / target).exists(), f"{page} links to {target}, which does not exist"
