"""TLSA presentation text: TLSAData.from_text and Params.parse on random and near-valid text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated_text, reads_or_refuses
from tlsagen.core.tlsa import Params, TLSAData

SEEDS = [
    "3 1 1 " + "ab" * 32,
    "dane-ee spki sha2-256 " + "0123456789abcdef" * 4,
    "2 0 2 ( " + "ff" * 32 + " " + "00" * 32 + " )",
    "DANE-TA CERT FULL 3059301306072a8648ce3d020106",
    "pkix-ta 1 0 00",
]
FIELD = st.sampled_from(["0", "3", "255", "256", "dane-ee", "SPKI", "sha2_512", "٣", "1" * 5000])
NEAR_VALID = st.builds(
    lambda u, s, m, hex_data: f"{u} {s} {m} {hex_data}",
    FIELD,
    FIELD,
    FIELD,
    st.text(alphabet="0123456789abcdefABCDEF ()g", max_size=140),
)


@FUZZ
@given(text=st.text(max_size=200) | mutated_text(SEEDS) | NEAR_VALID)
def test_from_text(text: str) -> None:
    record = reads_or_refuses(TLSAData.from_text, text)
    if record is not None:
        fields = (record.usage, record.selector, record.matching_type)
        assert all(0 <= field <= 255 for field in fields)
        assert TLSAData.from_text(record.to_text()) == record


@FUZZ
@given(text=st.text(max_size=60) | st.builds(" ".join, st.lists(FIELD, max_size=4)))
def test_params(text: str) -> None:
    params = reads_or_refuses(Params.parse, text)
    if params is not None:
        assert Params.parse(str(params)) == params
