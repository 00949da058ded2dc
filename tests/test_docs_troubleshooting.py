"""docs/troubleshooting.md cannot drift from the code: every message it lists still appears in the
source of tlsagen and its providers, and under the exit code of the error that raises it.

The first cell of each table row holds one or more messages in backticks. `<...>` marks a part
that varies and `…` the rest of a message; the text between them is split further where messages
are joined from parts (at "; ", ". " and " ("), and each piece must be found inside one string
literal of the source (f-strings with their expressions left out).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tlsagen import errors
from tlsagen.errors import EXIT_CODES, TlsagenError

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "troubleshooting.md"
SOURCES = [ROOT / "tlsagen", *sorted((ROOT / "providers").glob("*/src"))]
HOLE = "\x00"  # an f-string expression in a rendered literal
ERROR_CODES = {
    name: cls.exit_code
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, TlsagenError)
}


@dataclass(frozen=True)
class Message:
    text: str  # as the page shows it
    code: int | None  # the exit code of its section; None under "Warnings"

    def pieces(self) -> list[str]:
        """The literal parts, trimmed of the punctuation that joins them to what varies."""
        parts = re.split(r"<[^<>]+>|…|; |\. | \(", self.text)
        trimmed = (part.strip(" :;,.'\"()") for part in parts)
        return [part for part in trimmed if len(re.findall(r"\w", part)) >= 3]


def _render(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            _render(value) if isinstance(value, ast.Constant) else HOLE for value in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _render(node.left) + _render(node.right)
    return HOLE


@cache
def literals() -> tuple[list[str], list[tuple[str, int]]]:
    """Every string literal of the source, and the first argument of each error raised, with
    the exit code of its class."""
    strings: list[str] = []
    raised: list[tuple[str, int]] = []
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant | ast.JoinedStr):
                    strings.append(_render(node))
                elif isinstance(node, ast.Call) and node.args:
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                    if name in ERROR_CODES:
                        raised.append((_render(node.args[0]), ERROR_CODES[name]))
    return strings, raised


def documented() -> list[Message]:
    found: list[Message] = []
    code: int | None = None
    for line in PAGE.read_text().splitlines():
        heading = re.match(r"## (?:Exit (\d+)|(.*))", line)
        if heading:
            code = int(heading[1]) if heading[1] else None
        elif line.startswith("| `"):
            first_cell = line.split(" | ")[0]
            found += [Message(text, code) for text in re.findall(r"`([^`]+)`", first_cell)]
    return found


MESSAGES = documented()


def test_the_page_lists_messages_for_every_exit_code() -> None:
    assert len(MESSAGES) > 150
    assert {m.code for m in MESSAGES} - {None} == set(EXIT_CODES) - {0}


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.text[:70])
def test_documented_message_is_in_the_source(message: Message) -> None:
    strings, raised = literals()
    pieces = message.pieces()
    assert pieces, f"nothing to look for in {message.text!r}"
    missing = [p for p in pieces if not any(p in s for s in strings)]
    assert not missing, f"not in the source any more: {missing}"
    if message.code is None:
        return
    longest = max(pieces, key=len)
    codes = {code for text, code in raised if longest in text}
    assert not codes or message.code in codes, (
        f"{message.text!r} is listed under exit {message.code}, but raised with {sorted(codes)}"
    )
