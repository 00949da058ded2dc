"""The next SOA serial, in serial number arithmetic (RFC 1982)."""

from __future__ import annotations

from datetime import date

MODES = ("increment", "date", "keep")
_MODULO = 2**32
_HALF = 2**31


def newer(a: int, b: int) -> bool:
    """Whether serial `a` is greater than serial `b` (RFC 1982 section 3.2)."""
    return a != b and (a - b) % _MODULO < _HALF


def next_serial(serial: int, mode: str, today: date) -> int:
    """`increment`: serial + 1; `date`: today's YYYYMMDD00, or serial + 1 when that is not newer
    (a second change today, or a serial already ahead of the date); `keep`: serial unchanged."""
    if mode == "keep":
        return serial
    if mode == "date":
        dated = int(today.strftime("%Y%m%d")) * 100
        if newer(dated, serial):
            return dated
    return (serial + 1) % _MODULO
