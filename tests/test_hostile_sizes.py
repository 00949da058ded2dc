"""Hostile sizes: inputs at and over the limits finish in bounded time and memory, or are refused
with an error that says which limit (figures measured on a 2-core machine are in docs/fuzzing.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import dns.name
import pytest

from tests.helpers import bounded
from tlsagen.core import formats, material, policy
from tlsagen.core.records import Owner, host_name
from tlsagen.errors import InputError, UsageError
from tlsagen.testing import record

EXAMPLES = Path(__file__).parents[1] / "docs/examples"
CHAIN = (EXAMPLES / "mx.example.com/fullchain.pem").read_bytes()
KEY = (EXAMPLES / "next.key").read_bytes()


# --- certificates and keys -----------------------------------------------------------------------


def padded(size: int) -> bytes:
    """The example chain, then text outside any PEM block up to `size` bytes."""
    return CHAIN + b"#" * (size - len(CHAIN))


def test_a_source_of_exactly_1_mib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "chain.pem"
    path.write_bytes(padded(material.MAX_SOURCE_BYTES))
    with bounded(2, 8):
        assert material.read_source(str(path)).kind == "certificate"


def test_one_byte_over_1_mib_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chain.pem"
    path.write_bytes(padded(material.MAX_SOURCE_BYTES + 1))
    with pytest.raises(InputError, match=r"chain\.pem: file is larger than 1 MiB"):
        material.read_source(str(path))
    stdin = io.TextIOWrapper(io.BytesIO(padded(material.MAX_SOURCE_BYTES + 1)))
    monkeypatch.setattr("sys.stdin", stdin)
    with pytest.raises(InputError, match="<stdin>: input is larger than 1 MiB"):
        material.read_source("-")


def test_a_bundle_of_1500_certificates_just_under_1_mib() -> None:
    bundle = CHAIN * (material.MAX_SOURCE_BYTES // len(CHAIN))
    with bounded(5, 16):
        found = material.parse("bundle.pem", bundle)
    assert len(found.chain) == 2 * (material.MAX_SOURCE_BYTES // len(CHAIN)) > 1500


def block(label: str, body: str = "AAAA") -> bytes:
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (block("EC PARAMETERS", "BggqhkjOPQMBBw==") * 5000 + KEY, None),
        (block("CERTIFICATE") * 5000, "certificate 1 is damaged"),
        (block("X") * 5000, r"no certificate, key or certificate request .*\(found X\)"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 5000, "truncated PEM"),
        (CHAIN + KEY * 5000, "5000 private keys beside the certificate"),
        (CHAIN + KEY * 2, "2 private keys beside the certificate"),
    ],
    ids=["ignored", "damaged", "unknown", "no-end", "keys", "two-keys"],
)
def test_5000_tiny_pem_blocks(data: bytes, error: str | None) -> None:
    """Every block is looked at once at most; a certificate file's private keys are not loaded
    one by one (an RSA 4096 key takes 0.1-0.5 s to load: a 1 MiB file holds 320)."""
    with bounded(3, 16):
        if error is None:
            assert material.parse("blocks.pem", data).kind == "private key"
        else:
            with pytest.raises(InputError, match=error):
                material.parse("blocks.pem", data)


# --- RRsets of 100 records -----------------------------------------------------------------------

OWNER = Owner("_25._tcp.mx1.example.com.")
HUNDRED = [record(str(i), "3 1 2") for i in range(100)]


def test_100_records_in_every_output_format() -> None:
    records = [formats.Record("src", OWNER, 3600, data) for data in HUNDRED]
    for fmt in formats.FORMATS:
        assert formats.render(fmt, records, "example.com.")
    assert formats.nsupdate(records).count("update add") == 100
    assert formats.nsupdate(records).count("update delete") == 1
    assert len(formats.zone(records).splitlines()) == 100
    (warning,) = policy.lint_rrset_size(OWNER.name, 100)
    assert "100 records" in warning


# --- names at the 255-octet limit ----------------------------------------------------------------


def host_of_length(octets: int, suffix: str = "") -> str:
    """An absolute host name that takes `octets` in wire form once `suffix` (labels) precedes
    it: 63-octet labels, then one shorter label."""
    room = octets - len(suffix) - 1  # the root's length octet
    labels = []
    while room > 0:
        size = min(63, room - 1)
        labels.append("a" * size)
        room -= size + 1
    name = ".".join(labels) + "."
    assert len(suffix + name) + 1 == octets
    return name


@pytest.mark.parametrize("octets", [255, 256])
def test_owner_at_the_255_octet_limit(octets: int) -> None:
    host = host_of_length(octets, "_25._tcp.")
    if octets == 255:
        owner = Owner.for_service(host, 25)
        assert len(dns.name.from_text(owner.name).to_wire()) == 255
    else:
        with pytest.raises(UsageError, match="longer than 255 octets"):
            Owner.for_service(host, 25)


@pytest.mark.parametrize("octets", [255, 256])
def test_host_name_at_the_255_octet_limit(octets: int) -> None:
    host = host_of_length(octets)
    if octets == 255:
        assert host_name(host) == host
    else:
        with pytest.raises(UsageError, match="longer than 255 octets"):
            host_name(host)


def test_a_megabyte_of_host_name_is_refused_at_once() -> None:
    with bounded(0.5, 8), pytest.raises(UsageError, match=r"\.\.\. \(1000001 octets\)"):
        host_name("a." * 500_000)
