"""TLSA lines someone typed by hand that tlsagen cannot read or would never write: read as they
are, removed line by line when the owner is repaired, kept elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tlsagen.core.records import Change, ChangeSet, Malformed, Owner, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider

ZONE = "example.test."
MAIL, WEB, OTHER = (
    Owner(f"_{port}._tcp.{host}.example.test.")
    for host, port in (("mail", 25), ("www", 443), ("other", 25))
)
MAIL_LINES = (
    "_25._tcp.mail 300 IN TLSA 3 1 1 abcd ; a digest of 2 octets\n"
    "_25._tcp.mail 300 IN TLSA 3 1 1\n"
    "_25._tcp.mail 300 IN TLSA ( 3 1 1\n    not hex )\n"
    "_25._tcp.mail 300 IN TLSA hello \x1b[31m world\n"
)
WEB_LINE = "_443._tcp.www 300 IN TLSA 4 2 3 zz\n"
NOT_NUMBERS = "it does not start with usage, selector and matching type (0-255)"


@pytest.fixture
def hand_edited(zone_file: Path) -> Path:
    zone_file.write_text(zone_file.read_text() + MAIL_LINES + "mail IN A 192.0.2.25\n" + WEB_LINE)
    return zone_file


def test_records_are_read_as_written(
    hand_edited: Path, make_provider: Callable[..., ZonefileProvider]
) -> None:
    held = make_provider(hand_edited).read(ZONE, [MAIL, WEB])
    assert held[MAIL].records == {TLSAData(3, 1, 1, b"\xab\xcd"), TLSAData(3, 1, 1, b"")}
    assert held[MAIL].malformed == {
        Malformed("3 1 1 not hex", "its data is not hexadecimal"),
        Malformed("hello \x1b[31m world", NOT_NUMBERS),
    }
    assert held[WEB].malformed == {Malformed("4 2 3 zz", "its data is not hexadecimal")}


def test_repair_removes_exactly_those_lines_and_blocks_no_other_owner(
    hand_edited: Path, make_provider: Callable[..., ZonefileProvider]
) -> None:
    provider = make_provider(hand_edited, serial="keep")
    held = provider.read(ZONE, [MAIL, WEB, OTHER])
    new = rrset(MAIL, 300, [record("a")])
    created = rrset(OTHER, 300, [record("o")])
    provider.apply(ChangeSet(ZONE, (Change(MAIL, held[MAIL], new), Change(OTHER, None, created))))
    text = hand_edited.read_text()
    written = f"_25._tcp.mail 300 IN TLSA {record('a').to_text()}\n"
    assert text.count("_25._tcp.mail") == 1 and written in text
    assert "hello" not in text and "abcd" not in text
    assert WEB_LINE in text  # the owner not changed keeps its line byte for byte
    assert provider.read(ZONE, [MAIL, WEB, OTHER]) == {MAIL: new, WEB: held[WEB], OTHER: created}


def test_malformed_lines_changed_since_the_read_conflict(
    hand_edited: Path, make_provider: Callable[..., ZonefileProvider]
) -> None:
    provider = make_provider(hand_edited)
    held = provider.read(ZONE, [MAIL])
    hand_edited.write_text(hand_edited.read_text().replace("hello", "goodbye"))
    with pytest.raises(ConflictError):
        provider.apply(ChangeSet(ZONE, (Change(MAIL, held[MAIL], None),)))
    assert "goodbye" in hand_edited.read_text()


def test_repaired_zone_loads_in_named_checkzone(
    zone_file: Path, make_provider: Callable[..., ZonefileProvider], named_checkzone: str
) -> None:
    zone_file.write_text(zone_file.read_text() + MAIL_LINES)
    check = [named_checkzone, "{zone}", "{file}"]
    provider = make_provider(zone_file, serial="keep", check_command=check)
    held = provider.read(ZONE, [MAIL])
    provider.apply(ChangeSet(ZONE, (Change(MAIL, held[MAIL], rrset(MAIL, 300, [record("a")])),)))
    assert provider.read(ZONE, [MAIL]) == {MAIL: rrset(MAIL, 300, [record("a")])}
