"""State files (tlsagen.rollover.state) on random, mutated and generated JSON: a damaged file
is an empty state (with a warning), a newer version is refused with InputError, and nothing else
escapes; every state that is read can have its gates computed (no time or TTL overflows them)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated_text, reads_or_refuses
from tlsagen.config_values import MAX_INT, MAX_SECONDS
from tlsagen.rollover import state
from tlsagen.rollover.planner import (
    Key,
    Live,
    Memory,
    Published,
    View,
    deploy_gate,
    observe,
    retire_gate,
)
from tlsagen.testing import record

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SEED = state.render(
    {
        "mail": Memory(
            started=True,
            published={record("a"): Published(NOW, 300), record("b", "3 1 2"): Published(NOW, 60)},
            live=Live(frozenset({"ab" * 32}), NOW),
            ttl=3600,
            ttl_until=NOW,
        ),
        "web": Memory(),
    }
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["2026-11-28T12:00:00+00:00", "2026-11-28T12:00:00", record("a").to_text()])
    | st.sampled_from(["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00", "9000-01-01Z"])
    | st.sampled_from([2**31 - 1, 2**31, 10**20, -1, 1e300])
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)


def fields(keys: list[str]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(st.sampled_from(keys), JSON, max_size=len(keys))


PUBLISHED = fields(["record", "since", "ttl"])
MEMORY = fields(["managed", "ttl", "ttl_until"]) | st.builds(
    dict,
    published=st.lists(PUBLISHED, max_size=3) | JSON,
    live=fields(["keys", "since"]) | JSON,
)
DOCUMENT = st.builds(
    dict,
    version=st.sampled_from([1, 2, "1", None]) | JSON,
    services=st.dictionaries(st.text(max_size=6), MEMORY | JSON, max_size=3) | JSON,
)
TEXT = (
    st.text(max_size=300) | mutated_text([SEED]) | DOCUMENT.map(json.dumps) | JSON.map(json.dumps)
)


def _published(since: str, ttl: object) -> str:
    item = {"record": record("a").to_text(), "since": since, "ttl": ttl}
    return json.dumps({"version": 1, "services": {"m": {"published": [item]}}})


@FUZZ
@given(text=TEXT)
@example(text=_published("9999-12-31T23:59:59+00:00", 300))
@example(text=_published("0001-01-01T00:00:00+00:00", 300))
@example(text=_published("2026-11-28T12:00:00+00:00", 10**20))
@example(text=json.dumps({"version": 1, "services": {"m": {"ttl": 10**20}}}))
@example(
    text=json.dumps(
        {
            "version": 1,
            "services": {"m": {"live": {"keys": "a", "since": "9999-12-31T23:59:59+00:00"}}},
        }
    )
)
def test_state_text(text: str) -> None:
    memories = reads_or_refuses(state.parse, text, "fuzz")
    if memories is not None:
        assert state.parse(state.render(memories), "again") == memories
        for memory in memories.values():
            _compute_gates(memory)


def _compute_gates(memory: Memory) -> None:
    """Every gate over `memory`, at the latest time and with the largest margin and TTL a
    configuration allows."""
    for when in (NOW, datetime(9000, 1, 1, tzinfo=UTC)):  # the latest time a state holds
        for found in memory.published:
            key = Key("k", "fuzz", frozenset({found}))
            deploy_gate(key, memory, when, MAX_SECONDS)
            deploy_gate(key, memory, when, None)
        retire_gate(memory, MAX_INT, when)
        view = View(MAX_INT, (), None, served=frozenset(memory.published))
        observe(memory, view, when)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@FUZZ
@given(text=TEXT)
def test_state_file(directory: Path, text: str) -> None:
    path = directory / "state.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # undecodable bytes too
    reads_or_refuses(state.load, path)
