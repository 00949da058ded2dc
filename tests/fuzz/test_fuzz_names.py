"""DNS names: records.host_name and Owner.for_service on random and near-valid text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated_text, reads_or_refuses
from tlsagen.core.records import Owner, host_name

LABEL = st.text(alphabet="abcXYZ019-_.\n\t *\\\u00e9\u00df\u200d\u0663\ud800", max_size=70)
NAMES = st.builds(".".join, st.lists(LABEL, max_size=6))
SEEDS = ["mx1.example.com", "_25._tcp.mx1.example.com.", "bücher.example", "xn--bcher-kva.example."]
TEXT = st.text(max_size=300) | NAMES | mutated_text(SEEDS)


def _is_ldh_name(name: str) -> bool:
    """What every accepted host name must be: absolute, lowercase ASCII letters, digits, hyphens
    and dots, at most 255 octets in wire form."""
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-.")
    return name.endswith(".") and set(name) <= allowed and len(name) + 1 <= 255


@FUZZ
@given(text=TEXT)
def test_host_name(text: str) -> None:
    name = reads_or_refuses(host_name, text)
    if name is not None:
        assert _is_ldh_name(name), name
        assert host_name(name) == name


@FUZZ
@given(host=TEXT, port=st.integers(-1, 70000), proto=st.sampled_from(["tcp", "udp", "x", ""]))
def test_owner_for_service(host: str, port: int, proto: str) -> None:
    owner = reads_or_refuses(Owner.for_service, host, port, proto)
    if owner is not None:
        assert owner.port == port and _is_ldh_name(owner.name.replace("_", "")), owner
