"""Split zone file text into entries (one record or directive each) that know where they are.

Only the syntax of RFC 1035 section 5.1 matters here: comments, quoted strings, escapes and
parentheses that let an entry span several lines. The meaning of the tokens is zone.py's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from tlsagen.provider import ProviderError

_LEXEME = re.compile(  # each match skips the blanks before it
    r"""[ \t\r]*
    (?: (?P<newline>\n)
      | (?P<comment>;[^\n]*)
      | (?P<open>\()
      | (?P<close>\))
      | (?P<word>(?:[^\s;()"\\]+|\\.|"(?:[^"\\\n]|\\.)*")+)  # one way to match a quote
      | (?P<bad>\S))""",
    re.VERBOSE,
)


SHARED_LENGTH = 16  # longer words (names, key data) are seldom repeated


class Token(NamedTuple):  # a tuple: zone files have hundreds of thousands of tokens
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)  # one per record: hundreds of thousands
class Entry:
    """One record or directive: its tokens, and the whole lines it occupies."""

    start: int  # offset of the beginning of its first line
    end: int  # offset just past the newline of its last line (or the end of the text)
    tokens: tuple[Token, ...]  # without comments and parentheses
    line: int  # 1-based number of its first line

    @property
    def named(self) -> bool:
        """True when the entry starts in the first column: an owner name or a directive."""
        return self.tokens[0].start == self.start


def scan(text: str, where: str) -> list[Entry]:
    """The entries of `text`, in order; blank and comment-only lines belong to none."""
    entries: list[Entry] = []
    tokens: list[Token] = []
    shared: dict[str, str] = {}  # one string for each short word ("IN", "TLSA", "3"): less memory
    depth, start, line, first_line = 0, 0, 1, 1
    for match in _LEXEME.finditer(text):
        kind = match.lastgroup
        if kind == "word":
            word = match.group(kind)
            if len(word) <= SHARED_LENGTH:
                word = shared.setdefault(word, word)
            tokens.append(Token(word, match.start(kind)))
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise ProviderError(f"{where}:{line}: ')' without '('")
        elif kind == "bad":
            raise ProviderError(f"{where}:{line}: unterminated quoted string or escape")
        elif kind == "newline":
            line += 1
            if depth == 0:
                if tokens:
                    entries.append(Entry(start, match.end(), tuple(tokens), first_line))
                tokens, start, first_line = [], match.end(), line
    if depth:
        raise ProviderError(f"{where}:{first_line}: '(' is never closed")
    if tokens:
        entries.append(Entry(start, len(text), tuple(tokens), first_line))
    return entries
