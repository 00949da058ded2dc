"""Hostile sizes for the zone-file provider: a 20,000-record zone is read and edited in time and
memory that grow with the file, not with file x owners (moved from tests/test_hostile_sizes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.big_zone import write_big_zone, zone_provider
from tests.helpers import bounded
from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.testing import record

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
