"""The provider contract from tlsagen.testing against MemoryProvider, which tests and examples
use in place of a real provider: it must behave like one, unusable records included."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tlsagen.core.records import Owner, RRset, stored_record, stored_rrset
from tlsagen.testing import Harness, MemoryProvider, ProviderContract


@pytest.fixture
def harness() -> Harness:
    memory = MemoryProvider()

    def external_write(owner: Owner, value: RRset | None) -> None:
        if value is None:
            memory.data.pop(owner, None)
        else:
            memory.data[owner] = value

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        memory.data[owner] = stored_rrset(owner, 300, map(stored_record, texts))

    return Harness(memory, memory.zone, external_write, plant=plant)


class TestMemoryContract(ProviderContract):
    pass
