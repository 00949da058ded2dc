"""Strategies shared by the fuzz targets: byte- and text-level mutations of valid inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from hypothesis import strategies as st

from tlsagen.errors import TlsagenError

# Bytes that matter to the parsers: DER tags and lengths, PEM and zone-file punctuation.
INTERESTING = b'\x00\x01\x02\x03\x04\x05\x30\x31\x7f\x80\x81\x82\x83\x84\xa0\xff-=\n\r\t ;()"\\{}'


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """One of `seeds` with up to eight edits: flipped, inserted, deleted, cut or repeated bytes."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(("set", "insert", "delete", "truncate", "repeat")))
        byte = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        if edit == "set" and at < len(data):
            data[at] = byte
        elif edit == "insert":
            data[at:at] = bytes([byte])
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
    return bytes(data)


def mutated_text(seeds: Sequence[str]) -> st.SearchStrategy[str]:
    """`mutated` for text (UTF-8, with undecodable bytes kept as surrogates, as files are read)."""
    encoded = [seed.encode() for seed in seeds]
    return mutated(encoded).map(lambda data: data.decode("utf-8", "surrogateescape"))


def spliced_lines(seeds: Sequence[str]) -> st.SearchStrategy[str]:
    """Lines of the seeds, shuffled and repeated: a structure-aware mutation of line formats."""
    lines = sorted({line for seed in seeds for line in seed.splitlines(keepends=True)})
    return st.lists(st.sampled_from(lines), max_size=30).map("".join)


P = ParamSpec("P")
T = TypeVar("T")


def reads_or_refuses(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """function(...), or None when it refused with a TlsagenError; any other error escapes."""
    try:
        return function(*args, **kwargs)
    except TlsagenError:
        return None
