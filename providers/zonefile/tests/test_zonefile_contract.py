"""The shared provider contract, run against a zone file on disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tlsagen.core.records import Change, ChangeSet, Owner, RRset
from tlsagen.testing import Harness, ProviderContract
from tlsagen_zonefile.provider import ZonefileProvider


@pytest.fixture
def harness(zone_file: Path, make_provider: Callable[..., ZonefileProvider]) -> Harness:
    zone = "example.test."
    # A concurrent writer: another tlsagen run editing the same file.
    other = make_provider(zone_file, serial="keep")

    def external_write(owner: Owner, value: RRset | None) -> None:
        held = other.read(zone, [owner]).get(owner)
        other.apply(ChangeSet(zone, (Change(owner, held, value),)))

    planted: dict[Owner, str] = {}

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        """A hand edit: the owner's lines, replacing those planted before."""
        lines = "".join(f"{owner} 300 IN TLSA {text}\n" for text in texts)
        zone_file.write_text(zone_file.read_text().replace(planted.get(owner, "\0"), "") + lines)
        planted[owner] = lines

    return Harness(make_provider(zone_file), zone, external_write, plant=plant)


class TestZonefileContract(ProviderContract):
    pass
