"""atheris harness: tlsagen.core.material.parse on any bytes (PEM or DER, with or without a
password).

python fuzz/atheris_material.py -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from tlsagen.core import material

from harness import EXAMPLES, fuzz


def parse(data: bytes) -> None:
    # The first byte chooses a password: none, or the rest of the input split in two.
    if data[:1] == b"p":
        password, _, data = data[1:].partition(b"\n")
        material.parse("fuzz", data, password)
    else:
        material.parse("fuzz", data)


def seeds() -> list[bytes]:
    """The example PEM files, and the DER inside each of their blocks."""
    pems = [path.read_bytes() for path in sorted(EXAMPLES.rglob("*.pem"))]
    pems += [path.read_bytes() for path in sorted(EXAMPLES.glob("*.key"))]
    ders = [der for pem in pems for _, der, _ in material._pem_blocks("seed", pem) if der]
    password = (EXAMPLES / "next-encrypted.pass").read_bytes().strip()
    return [*pems, *ders, b"p" + password + b"\n" + (EXAMPLES / "next-encrypted.key").read_bytes()]


if __name__ == "__main__":
    fuzz(parse, seeds())
