"""atheris harness: TLSAData.from_text on any text; what it accepts must print and parse back.

python fuzz/atheris_tlsa.py -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from tlsagen.core.tlsa import TLSAData

from harness import fuzz


def from_text(data: bytes) -> None:
    record = TLSAData.from_text(data.decode("utf-8", "replace"))
    assert TLSAData.from_text(record.to_text()) == record


SEEDS = [
    b"3 1 1 " + b"ab" * 32,
    b"dane-ee spki sha2-512 ( " + b"01" * 32 + b" " + b"23" * 32 + b" )",
    b"PKIX-TA CERT FULL 3059301306072a8648ce3d0201",
]

if __name__ == "__main__":
    fuzz(from_text, SEEDS)
