"""Zone files (tlsagen_zonefile: lexer and zone reader) on random and mutated text."""

from __future__ import annotations

from pathlib import Path

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated_text, reads_or_refuses, spliced_lines
from tlsagen.core.records import Owner
from tlsagen.errors import ProviderError

pytest.importorskip("tlsagen_zonefile")  # fuzzes this provider's parsers
from tlsagen_zonefile.edit import current_serial
from tlsagen_zonefile.zone import parse_zone

EXAMPLE = Path(__file__).parents[2] / "docs/examples/gitops/example.com.zone"
ZONE = Path("/zones/example.com.zone")
INCLUDED = Path("/zones/part.inc")
TLSA = "3 1 1 " + "ab" * 32
SEEDS = [
    EXAMPLE.read_text(),
    "$ORIGIN example.com.\n@ IN SOA ns1 hm ( 1 2 3 4\n 300 ) ; minimum\n"
    f"_25._tcp.mx1 300 IN TLSA {TLSA}\n"
    f"_25._TCP.MX1 IN 2d TLSA 3 1 0 ( 3059 ; split\n  3013 ) ; done\n"
    "  300 TYPE52 \\# 5 0301000304\n"
    'mx1 TXT "a ; (quoted" "\\"" ; comment (\n'
    "$TTL 1h\n$INCLUDE part.inc sub\n$GENERATE 1-2 h$ A 192.0.2.$\n",
]
INCLUDE_SEEDS = [f"_25._tcp.mx2 TLSA {TLSA}\n$INCLUDE part.inc\n", "$ORIGIN .\nx 1 A 192.0.2.1\n"]
OWNERS = [Owner("_25._tcp.mx1.example.com."), Owner("_25._tcp.mx2.sub.example.com.")]
TEXT = st.text(max_size=400) | mutated_text(SEEDS) | spliced_lines(SEEDS + INCLUDE_SEEDS)


def read_zone(main: str, included: str, origin: dns.name.Name | None) -> None:
    files = {ZONE: main, INCLUDED: included}

    def read(path: Path) -> str:
        if path not in files:
            raise ProviderError(f"cannot read {path}: No such file or directory")
        return files[path]

    zone = parse_zone(ZONE, origin, read)
    for owner in OWNERS:
        zone.rrset(owner)  # each TLSA record's data is parsed here
    if zone.soa is not None:
        current_serial(zone)


@FUZZ
@given(
    main=TEXT,
    included=mutated_text(INCLUDE_SEEDS),
    origin=st.sampled_from([None, dns.name.from_text("example.com.")]),
)
def test_zone_file(main: str, included: str, origin: dns.name.Name | None) -> None:
    reads_or_refuses(read_zone, main, included, origin)
