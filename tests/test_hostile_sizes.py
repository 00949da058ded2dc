"""Hostile sizes: inputs at and over the limits finish in bounded time and memory, or are refused
with an error that says which limit (figures measured on a 2-core machine are in docs/fuzzing.md).
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.name
import dns.tsig
import pytest

from tests.helpers import write_big_zone, zone_provider
from tlsagen.core import formats, material, policy
from tlsagen.core.records import Change, ChangeSet, Owner, host_name, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import InputError, ProviderError, UsageError
from tlsagen.testing import record
from tlsagen_rfc2136.wire import MAX_MESSAGE, build_update, wire_size
from tlsagen_rfc2136.wire import split as split_updates
from tlsagen_route53.batches import MAX_CHARS, MAX_RECORDS, Item, split

EXAMPLES = Path(__file__).parents[1] / "docs/examples"
CHAIN = (EXAMPLES / "mx.example.com/fullchain.pem").read_bytes()
KEY = (EXAMPLES / "next.key").read_bytes()
MiB = 1024 * 1024
KEY_RING = dns.tsig.Key("tlsagen-key.", "c2VjcmV0c2VjcmV0c2VjcmV0", dns.tsig.HMAC_SHA256)


@contextmanager
def bounded(seconds: float, mebibytes: float | None = None) -> Iterator[None]:
    """The block must finish within `seconds` and, when given, allocate at most `mebibytes` at
    its peak (traced by tracemalloc, which makes Python code 3-5 times slower)."""
    if mebibytes is not None:
        tracemalloc.start()
    started = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert mebibytes is None or peak < mebibytes, f"peak {peak:.1f} MiB"


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


# --- zone files ----------------------------------------------------------------------------------

HOSTS = 10_000  # an A and a TLSA record each: a 20,000-record, 1.2 MB zone file


@pytest.fixture(scope="module")
def big_zone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_big_zone(tmp_path_factory.mktemp("zone") / "example.test.zone", HOSTS)


def test_reading_2000_owners_of_a_20000_record_zone(big_zone: Path) -> None:
    """Time and memory grow with the file, not with file x owners read."""
    owners = [Owner(f"_25._tcp.h{i}.example.test.") for i in range(0, HOSTS, 5)]
    with bounded(40, 64):
        held = zone_provider(big_zone).read("example.test.", owners)
    assert len(held) == len(owners)


def test_adding_500_owners_to_a_20000_record_zone(big_zone: Path, tmp_path: Path) -> None:
    """Finding where each new owner's lines go is one lookup, not a pass over the zone."""
    path = tmp_path / big_zone.name
    path.write_bytes(big_zone.read_bytes())
    provider = zone_provider(path)
    owners = [Owner(f"_25._tcp.h{i}.example.test.") for i in range(0, HOSTS, 20)]
    held = provider.read("example.test.", owners)
    changes = tuple(
        Change(o, held[o], rrset(o, 300, [record("current"), record("next")])) for o in owners
    )
    with bounded(40):
        provider.apply(ChangeSet("example.test.", changes))
    assert zone_provider(path).read("example.test.", owners[-1:])[owners[-1]] == changes[-1].after


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


def test_an_update_replacing_100_records_by_100_fits_its_estimate() -> None:
    change = Change(OWNER, rrset(OWNER, 60, HUNDRED[:50] + HUNDRED[:50]), rrset(OWNER, 60, HUNDRED))
    wire = build_update("example.com.", [change], KEY_RING).to_wire()
    assert len(wire) <= wire_size(change) + 1024 <= MAX_MESSAGE


def test_100_owners_of_100_records_split_into_updates_that_each_fit() -> None:
    owners = [Owner(f"_25._tcp.mx{i}.example.com.") for i in range(100)]
    changes = [Change(o, rrset(o, 60, HUNDRED[:1]), rrset(o, 60, HUNDRED)) for o in owners]
    groups = split_updates(changes)
    assert len(groups) > 1 and [c for g in groups for c in g] == changes
    for group in groups:
        assert len(build_update("example.com.", group, KEY_RING).to_wire()) <= MAX_MESSAGE


def test_an_owner_whose_change_fits_no_update_is_refused_by_name() -> None:
    full = [TLSAData(3, 0, 0, bytes([i]) * 1000) for i in range(100)]  # 100 whole certificates
    change = Change(OWNER, None, rrset(OWNER, 60, full))
    with pytest.raises(ProviderError, match=f"change of {OWNER} alone needs"):
        split_updates([change])


def test_route53_batches_of_owners_with_100_records() -> None:
    owners = [Owner(f"_25._tcp.mx{i}.example.com.") for i in range(30)]
    items = [Item.of(Change(o, None, rrset(o, 60, HUNDRED)), None) for o in owners]
    batches = split(items)
    assert [item for batch in batches for item in batch] == items
    for batch in batches:
        assert sum(len(item.values) for item in batch) <= MAX_RECORDS
        assert sum(item.chars for item in batch) <= MAX_CHARS


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
        change = Change(owner, None, rrset(owner, 60, HUNDRED))
        wire = build_update("example.com.", [change], KEY_RING).to_wire()
        assert len(wire) <= wire_size(change) + 1024
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
