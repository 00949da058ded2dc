"""SOA serials: increment, date (YYYYMMDDnn) and keep, in RFC 1982 serial arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from tlsagen_zonefile.serial import newer, next_serial

TODAY = date(2025, 11, 28)


@pytest.mark.parametrize(
    ("serial", "mode", "expected"),
    [
        (41, "increment", 42),
        (2025112804, "increment", 2025112805),
        (4294967295, "increment", 0),  # RFC 1982: the serial wraps
        (7, "keep", 7),
        (2024061502, "date", 2025112800),  # an older date: today's first
        (2025112804, "date", 2025112805),  # already changed today
        (2025112799, "date", 2025112800),  # yesterday's last
        (2025112899, "date", 2025112900),  # nn = 99 today: spills into tomorrow's number
        (2030010100, "date", 2030010101),  # a serial in the future: never goes back
        (1, "date", 2025112800),  # a small counter is 2^31 away at most: the date is newer
        (4000000000, "date", 4000000001),  # the date is "older" in serial arithmetic
        (4294967295, "date", 2025112800),  # ...but newer than this one, past the wrap
    ],
)
def test_next_serial(serial: int, mode: str, expected: int) -> None:
    assert next_serial(serial, mode, TODAY) == expected
    if mode != "keep":
        assert newer(expected, serial)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 0, True),
        (0, 1, False),
        (0, 4294967295, True),  # wrapped
        (2**31 - 1, 0, True),
        (2**31, 0, False),  # exactly half way: undefined, so not newer
        (0, 2**31, False),
        (5, 5, False),
    ],
)
def test_newer(a: int, b: int, expected: bool) -> None:
    assert newer(a, b) is expected
