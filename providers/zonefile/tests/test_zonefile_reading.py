"""Reading zone files: syntax, names, TTLs and the errors that point at a file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tlsagen.core.records import Owner, RRset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ProviderError
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider

HEAD = "$ORIGIN example.test.\n@ IN SOA ns1 hm ( 1 2 3 4\n 300 ) ; minimum\n"
MAIL = Owner("_25._tcp.mail.example.test.")
DATA = record("a").to_text()  # 3 1 1 <64 hex digits>


def read(tmp_path: Path, make_provider: Callable[..., ZonefileProvider], body: str) -> RRset:
    path = tmp_path / "example.test.zone"
    path.write_text(HEAD + body)
    return make_provider(path).read("example.test.", [MAIL])[MAIL]


@pytest.mark.parametrize(
    ("body", "ttl"),
    [
        (f"_25._tcp.mail TLSA {DATA}\n", 300),  # no $TTL: the SOA minimum
        (f"$TTL 1h\n_25._tcp.mail TLSA {DATA}\n", 3600),
        (f"x 120 A 192.0.2.1\n_25._tcp.mail TLSA {DATA}\n", 120),  # the last TTL stated
        (f"$TTL 60\nx 120 A 192.0.2.1\n_25._tcp.mail TLSA {DATA}\n", 60),  # $TTL wins over it
        (f"_25._tcp.mail IN 2d TLSA {DATA}\n", 172800),  # class before TTL
        (f"_25._tcp.mail.example.test. 10 TLSA {DATA}\n", 10),  # absolute name
    ],
)
def test_ttl_rules(
    tmp_path: Path, make_provider: Callable[..., ZonefileProvider], body: str, ttl: int
) -> None:
    assert read(tmp_path, make_provider, body).ttl == ttl


def test_tricky_syntax(tmp_path: Path, make_provider: Callable[..., ZonefileProvider]) -> None:
    held = read(
        tmp_path,
        make_provider,
        'mail TXT "a ; (quoted" "\\"" ; comment (\n'
        "_25._TCP.Mail 300 TLSA 3 1 0 ( 3059 ; split\n"
        "  3013 ) ; done\n"
        "  300 TYPE52 \\# 5 0301000304\n",
    )
    assert held.records == {
        TLSAData(3, 1, 0, bytes.fromhex("30593013")),
        TLSAData(3, 1, 0, b"\3\4"),
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("mail A ( 192.0.2.1\n", r"example.test.zone:4: '\(' is never closed"),
        ("mail A 192.0.2.1 )\n", r"example.test.zone:4: '\)' without '\('"),
        ('mail TXT "open\n', "example.test.zone:4: unterminated quoted string"),
        ("mail 300 BOGUS x\n", "example.test.zone:4: unknown record type 'BOGUS'"),
        ("$FOO bar\n", "example.test.zone:4: unsupported directive"),
        ("$INCLUDE missing.inc\n", "cannot read .*missing.inc"),
        ("$GENERATE 1-2 h$ A 192.0.2.$\n  A 192.0.2.9\n", "no owner name to inherit"),
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, make_provider: Callable[..., ZonefileProvider], body: str, message: str
) -> None:
    with pytest.raises(ProviderError, match=message):
        read(tmp_path, make_provider, body)


def test_include_nesting_is_bounded(
    tmp_path: Path, make_provider: Callable[..., ZonefileProvider]
) -> None:
    (tmp_path / "loop.inc").write_text("$INCLUDE loop.inc\n")
    with pytest.raises(ProviderError, match="nested more than 10 deep"):
        read(tmp_path, make_provider, "$INCLUDE loop.inc\n")
