"""atheris harness: the zone-file reader of the zone-file provider (lexer, records, TLSA data,
SOA serial) on any bytes, read as the provider reads a file; `$INCLUDE x` includes the input.

    python fuzz/atheris_zonefile.py -max_total_time=60
"""

from __future__ import annotations

from pathlib import Path

import atheris

with atheris.instrument_imports():
    import dns.name

    from tlsagen.core.records import Owner
    from tlsagen.errors import ProviderError
    from tlsagen_zonefile.edit import current_serial
    from tlsagen_zonefile.zone import parse_zone

from harness import EXAMPLES, fuzz

ZONE = Path("/zones/example.com.zone")
ORIGINS = (None, dns.name.from_text("example.com."))
OWNER = Owner("_25._tcp.mx1.example.com.")


def read_zone(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")

    def read(path: Path) -> str:
        if path.name not in (ZONE.name, "x"):
            raise ProviderError(f"cannot read {path}: No such file or directory")
        return text

    zone = parse_zone(ZONE, ORIGINS[len(data) % 2], read)
    zone.rrset(OWNER)
    if zone.soa is not None:
        current_serial(zone)


SEEDS = [
    (EXAMPLES / "gitops/example.com.zone").read_bytes(),
    b"$ORIGIN example.com.\n@ IN SOA ns1 hm ( 1 2 3 4\n 300 ) ; minimum\n"
    b"_25._tcp.mx1 300 IN TLSA 3 1 1 " + b"ab" * 32 + b"\n"
    b"_25._TCP.MX1 IN 2d TLSA 3 1 0 ( 3059 ; split\n  3013 ) ; done\n"
    b"  300 TYPE52 \\# 5 0301000304\n"
    b'mx1 TXT "a ; (quoted" "\\"" ; comment (\n'
    b"$TTL 1h\n$INCLUDE x sub\n$GENERATE 1-2 h$ A 192.0.2.$\n",
]

if __name__ == "__main__":
    fuzz(read_zone, SEEDS)
