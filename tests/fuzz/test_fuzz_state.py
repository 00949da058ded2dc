"""State files (tlsagen.state) on random, mutated and generated JSON: a damaged file is an empty
state (with a warning), a newer version is refused with InputError, and nothing else escapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated_text, reads_or_refuses
from tlsagen import state
from tlsagen.rollover import Live, Memory, Published
from tlsagen.testing import record

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
SEED = state.render(
    {
        "mail": Memory(
            managed=True,
            published={record("a"): Published(NOW, 300), record("b", "3 1 2"): Published(NOW, 60)},
            live=Live("ab" * 32, NOW),
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


@FUZZ
@given(text=TEXT)
def test_state_text(text: str) -> None:
    memories = reads_or_refuses(state.parse, text, "fuzz")
    if memories is not None:
        assert state.parse(state.render(memories), "again") == memories


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@FUZZ
@given(text=TEXT)
def test_state_file(directory: Path, text: str) -> None:
    path = directory / "state.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))  # undecodable bytes too
    reads_or_refuses(state.load, path)
