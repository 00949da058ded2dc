"""A provider held in memory, and the contract suite every provider must pass.

A provider's tests subclass `ProviderContract` and define a `harness` pytest fixture returning a
`Harness` for a real server (or for `MemoryProvider`). This module imports no test framework.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from tlsagen.core.records import (
    Change,
    ChangeSet,
    Owner,
    RRset,
    already_applied,
    rrset,
    stored_record,
    stored_rrset,
)
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError
from tlsagen.net import dns
from tlsagen.provider import Endpoint, Provider, ReadsNoServer


class MemoryProvider(ReadsNoServer):
    """Holds RRsets in a dict; compare-and-swap like a real provider. For tests and examples."""

    def __init__(self, zone: str = "example.test.") -> None:
        self.zone = zone
        self.data: dict[Owner, RRset] = {}
        self.applied: list[ChangeSet] = []

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        return {owner: self.zone for owner in owners}

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        return {owner: self.data[owner] for owner in owners if owner in self.data}

    def apply(self, changes: ChangeSet) -> None:
        if already_applied(self.data, changes.changes):
            return
        for change in changes.changes:
            if change.after is None:
                self.data.pop(change.owner, None)
            else:
                self.data[change.owner] = change.after
        self.applied.append(changes)

    def servers(self, zone: str) -> Sequence[Endpoint]:
        return ()


def record(seed: str, params: str = "3 1 1") -> TLSAData:
    """A well-formed TLSA record whose data is derived from `seed`."""
    usage, selector, mtype = (int(x) for x in params.split())
    data = hashlib.sha512(seed.encode()).digest()[: 64 if mtype == 2 else 32]
    return TLSAData(usage, selector, mtype, data)


@dataclass
class Harness:
    """What the contract suite needs from a provider's test setup."""

    provider: Provider
    zone: str
    # Write an RRset (None: delete it) behind the provider's back, as a concurrent writer would.
    external_write: Callable[[Owner, RRset | None], None]
    _labels: itertools.count[int] = field(default_factory=itertools.count)
    prefix: str = "contract"
    # Replace the owner's TLSA RRset by these record texts (TTL 300) with the provider's own
    # client, as someone editing by hand would: records tlsagen would never write.
    plant: Callable[[Owner, Sequence[str]], None] | None = None

    def owner(self, port: int = 25) -> Owner:
        """A fresh owner in the zone that no other test uses."""
        host = f"{self.prefix}{next(self._labels)}.{self.zone}"
        return Owner.for_service(host, port)

    def read(self, *owners: Owner) -> Mapping[Owner, RRset]:
        return self.provider.read(self.zone, owners)

    def apply(self, *changes: Change) -> None:
        self.provider.apply(ChangeSet(self.zone, changes))

    def apply_conflicts(self, *changes: Change) -> None:
        """Apply `changes`, which must fail with ConflictError: a `before` is stale."""
        try:
            self.apply(*changes)
        except ConflictError:
            return
        raise AssertionError("a stale `before` must raise ConflictError")

    def planted(self, owner: Owner, texts: Sequence[str]) -> RRset:
        """Plant `texts` at `owner`; the RRset they make."""
        if self.plant is None:
            raise AssertionError("this harness cannot plant records: give it `plant`")
        self.plant(owner, texts)
        return stored_rrset(owner, 300, map(stored_record, texts))


# Records every provider can store and tlsagen would never write: a SHA-256 digest of two
# octets, and fields no RFC defines.
UNUSABLE = ("3 1 1 abcd", "4 2 3 " + "ab" * 32)


class ProviderContract:
    """Behaviour every provider must show. Subclass it and provide a `harness` fixture."""

    def test_zone_of_owner(self, harness: Harness) -> None:
        owner = harness.owner()
        assert harness.provider.zones([owner]) == {owner: harness.zone}

    def test_empty_read(self, harness: Harness) -> None:
        assert harness.read(harness.owner()) == {}

    def test_create(self, harness: Harness) -> None:
        owner = harness.owner()
        new = rrset(owner, 300, [record("a")])
        harness.apply(Change(owner, None, new))
        assert harness.read(owner) == {owner: new}

    def test_replace(self, harness: Harness) -> None:
        owner = harness.owner()
        old = rrset(owner, 300, [record("a"), record("b")])
        new = rrset(owner, 300, [record("b"), record("c")])
        harness.apply(Change(owner, None, old))
        harness.apply(Change(owner, old, new))
        assert harness.read(owner) == {owner: new}

    def test_delete(self, harness: Harness) -> None:
        owner = harness.owner()
        old = rrset(owner, 300, [record("a")])
        harness.apply(Change(owner, None, old))
        harness.apply(Change(owner, old, None))
        assert harness.read(owner) == {}

    def test_stale_before_conflicts_and_changes_nothing(self, harness: Harness) -> None:
        owner, other = harness.owner(), harness.owner()
        read_value = rrset(owner, 300, [record("a")])
        harness.apply(Change(owner, None, read_value))
        concurrent = rrset(owner, 300, [record("a"), record("intruder")])
        harness.external_write(owner, concurrent)
        harness.apply_conflicts(
            Change(other, None, rrset(other, 300, [record("o")])),
            Change(owner, read_value, rrset(owner, 300, [record("b")])),
        )
        assert harness.read(owner, other) == {owner: concurrent}

    def test_create_over_existing_conflicts(self, harness: Harness) -> None:
        owner = harness.owner()
        existing = rrset(owner, 300, [record("x")])
        harness.external_write(owner, existing)
        harness.apply_conflicts(Change(owner, None, rrset(owner, 300, [record("a")])))
        assert harness.read(owner) == {owner: existing}

    def test_several_owners_in_one_change_set(self, harness: Harness) -> None:
        owners = [harness.owner(port) for port in (25, 465, 443)]
        sets = {o: rrset(o, 600, [record(o.name), record(o.name + "next")]) for o in owners}
        harness.apply(*(Change(o, None, s) for o, s in sets.items()))
        assert harness.read(*owners) == sets

    def test_ttl_round_trip(self, harness: Harness) -> None:
        owner = harness.owner()
        first = rrset(owner, 3600, [record("a")])
        harness.apply(Change(owner, None, first))
        second = rrset(owner, 120, [record("a")])
        harness.apply(Change(owner, first, second))
        assert harness.read(owner)[owner].ttl == 120

    def test_all_parameter_kinds_round_trip(self, harness: Harness) -> None:
        owner = harness.owner()
        records = [record("a", "3 1 1"), record("b", "3 1 2"), record("c", "2 0 1")]
        records.append(TLSAData(3, 1, 0, bytes(range(91))))
        new = rrset(owner, 300, records)
        harness.apply(Change(owner, None, new))
        assert harness.read(owner) == {owner: new}

    def test_idempotent_reapply_of_a_done_change(self, harness: Harness) -> None:
        owner = harness.owner()
        old = rrset(owner, 300, [record("a")])
        new = rrset(owner, 300, [record("b")])
        harness.apply(Change(owner, None, old))
        harness.apply(Change(owner, old, new))
        # The same change sent again (a retried run): DNS already holds `after`, so it succeeds.
        harness.apply(Change(owner, old, new))
        assert harness.read(owner) == {owner: new}

    def test_unusable_records_are_read_and_replaced(self, harness: Harness) -> None:
        owner, other = harness.owner(), harness.owner()
        planted = harness.planted(owner, UNUSABLE)
        held = harness.read(owner, other)
        assert held == {owner: planted}
        new = rrset(owner, 300, [record("a")])
        created = rrset(other, 300, [record("o")])
        harness.apply(Change(owner, held[owner], new), Change(other, None, created))
        assert harness.read(owner, other) == {owner: new, other: created}

    def test_unusable_records_changed_since_the_read_conflict(self, harness: Harness) -> None:
        owner = harness.owner()
        read_value = harness.planted(owner, UNUSABLE[:1])
        concurrent = harness.planted(owner, ["3 1 1 abce"])
        harness.apply_conflicts(Change(owner, read_value, rrset(owner, 300, [record("a")])))
        assert harness.read(owner) == {owner: concurrent}
        harness.apply(Change(owner, concurrent, None))  # and they can be deleted
        assert harness.read(owner) == {}

    def test_confirmed_names_a_server_serving_the_change(self, harness: Harness) -> None:
        """`confirmed` after an apply: None, or a server that serves the change (the wait does
        not ask it); what `served` reads there is None or that change too."""
        owner = harness.owner()
        new = rrset(owner, 300, [record("a")])
        harness.apply(Change(owner, None, new))
        server = harness.provider.confirmed(harness.zone)
        if server is None:
            return
        assert dns.tlsa_at(server, owner) == new
        assert harness.provider.served(harness.zone, server, [owner]) in (None, {owner: new})
