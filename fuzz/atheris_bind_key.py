"""atheris harness: the BIND key-file parser of the RFC 2136 provider on any text.

python fuzz/atheris_bind_key.py -max_total_time=60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports():
    from tlsagen_rfc2136.keys import parse_key_file

from harness import fuzz


def parse(data: bytes) -> None:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return  # read_key_file refuses a file that is not UTF-8 before parsing
    for key in parse_key_file(text, "fuzz"):
        assert key.secret and key.name.endswith(".")


SECRET = b"/v/+//7//v/+//7//v/+//7//v/+//7//v/+//4="
SEEDS = [
    b'key "tlsagen-key." {\n\talgorithm hmac-sha256;\n\tsecret "' + SECRET + b'";\n};\n',
    b'// comment\nkey k { algorithm HMAC-MD5.SIG-ALG.REG.INT; secret "' + SECRET + b'"; };\n'
    b'/* block */ options { directory "/tmp"; };\n# hash\nkey "b" { secret "AAAA" ; };\n',
]

if __name__ == "__main__":
    fuzz(parse, SEEDS)
