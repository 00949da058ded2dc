"""Records as providers store them: TLSAData whatever their length or fields, else Malformed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlsagen.core.records import Malformed, generic_octets, stored_record
from tlsagen.core.tlsa import TLSAData

NOT_NUMBERS = "it does not start with usage, selector and matching type (0-255)"


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("3 1 1 ABcd", TLSAData(3, 1, 1, b"\xab\xcd")),  # a digest of the wrong length
        ("3 1 1", TLSAData(3, 1, 1, b"")),  # no data
        ("255 9 7 00 ff", TLSAData(255, 9, 7, b"\x00\xff")),  # undefined fields, split hex
        ("\\# 4 030101ab", TLSAData(3, 1, 1, b"\xab")),
        ("\\# 3 03 01 01", TLSAData(3, 1, 1, b"")),
        (
            "\\# 2 0301",
            Malformed("\\# 2 0301", "its 2 octet(s) cannot hold usage, selector and matching type"),
        ),
        (
            "\\# 0",
            Malformed("\\# 0", "its 0 octet(s) cannot hold usage, selector and matching type"),
        ),
        ("\\# 3 0301", Malformed("\\# 3 0301", "it says 3 octets and holds 2")),
        ("\\# x 03", Malformed("\\# x 03", "its generic form (\\# LENGTH HEX) has no length")),
        ("3 1 1 abc", Malformed("3 1 1 abc", "its data is not hexadecimal")),
        ("dane-ee spki sha2-256 ab", Malformed("dane-ee spki sha2-256 ab", NOT_NUMBERS)),
        ("256 1 1 ab", Malformed("256 1 1 ab", NOT_NUMBERS)),
        ("0003 1 01 ab", TLSAData(3, 1, 1, b"\xab")),  # leading zeros, as BIND reads them
        ("\uff13 1 1 ab", Malformed("\uff13 1 1 ab", NOT_NUMBERS)),  # a full-width digit
        ("", Malformed("", NOT_NUMBERS)),
        ("garbage", Malformed("garbage", NOT_NUMBERS)),
    ],
)
def test_stored_record(text: str, read: TLSAData | Malformed) -> None:
    assert stored_record(text) == read


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=80))
def test_every_record_reads_back_from_its_text_and_generic_form(
    usage: int, selector: int, mtype: int, data: bytes
) -> None:
    record = TLSAData(usage, selector, mtype, data)
    wire = record.to_wire()
    assert stored_record(record.to_text()) == record
    assert stored_record(f"\\# {len(wire)} {wire.hex()}") == record
    assert generic_octets(f"\\# {len(wire)} {wire.hex()}") == wire


@given(st.text(max_size=40))
def test_any_text_reads_as_something(text: str) -> None:
    read = stored_record(text)
    assert isinstance(read, TLSAData) or read.text == text
