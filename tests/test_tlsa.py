"""TLSA parameters and RFC 7218 names, record data in presentation and JSON form, computing it."""

from __future__ import annotations

import json
import re

import dns.rdata
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import Pki
from tlsagen.core import formats, material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, TLSAData, compute, digest
from tlsagen.errors import InputError, UsageError

# RFC 7218 section 2: the mnemonics, as the RFC spells them.
USAGE_NAMES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTOR_NAMES = {0: "Cert", 1: "SPKI"}
MATCHING_NAMES = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
DIGEST_LENGTHS = {1: 32, 2: 64}


@st.composite
def tlsa_data(draw: st.DrawFn) -> TLSAData:
    """Any well-formed record: digests of the right length, other data of any non-zero length."""
    usage, selector, matching_type = (draw(st.integers(0, 255)) for _ in range(3))
    length = DIGEST_LENGTHS.get(matching_type)
    data = draw(st.binary(min_size=length or 1, max_size=length or 300))
    return TLSAData(usage, selector, matching_type, data)


def any_case(text: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(text, upper, strict=True)
        )
    )


@st.composite
def named_params(draw: st.DrawFn) -> tuple[str, Params]:
    """`dAnE-eE spki SHA2-256` (names in any case, or numbers) and the Params it means."""
    fields = []
    values = []
    for names in (USAGE_NAMES, SELECTOR_NAMES, MATCHING_NAMES):
        value = draw(st.sampled_from(sorted(names)))
        fields.append(draw(st.one_of(any_case(names[value]), st.just(str(value)))))
        values.append(value)
    return " ".join(fields), Params(*values)


@given(named_params())
def test_params_from_rfc7218_names_in_any_case_or_numbers(case: tuple[str, Params]) -> None:
    text, expected = case
    assert Params.parse(text) == expected


@pytest.mark.parametrize("usage", USAGE_NAMES)
@pytest.mark.parametrize("selector", SELECTOR_NAMES)
@pytest.mark.parametrize("matching_type", MATCHING_NAMES)
def test_params_names_are_rfc7218(usage: int, selector: int, matching_type: int) -> None:
    names = f"{USAGE_NAMES[usage]} {SELECTOR_NAMES[selector]} {MATCHING_NAMES[matching_type]}"
    assert Params(usage, selector, matching_type).names() == names.upper()


def test_params_without_a_name_show_the_number() -> None:
    assert Params(255, 1, 7).names() == "255 SPKI 7"
    assert str(Params(3, 1, 1)) == "3 1 1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("3 1", "must be three fields"),
        ("3 1 1 1", "must be three fields"),
        ("", "must be three fields"),
        ("256 1 1", "usage 256 is out of range 0-255"),
        ("3 1 sha256", "unknown matching type 'sha256': use one of full (0), sha2-256 (1)"),
        ("dane 1 1", "unknown usage 'dane'"),
        ("3 key 1", "unknown selector 'key'"),
        ("-1 1 1", "unknown usage '-1'"),
        ("\N{SUPERSCRIPT THREE} 1 1", "unknown usage"),
    ],
)
def test_bad_params(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)):
        Params.parse(text)


@given(tlsa_data())
def test_presentation_round_trip(record: TLSAData) -> None:
    assert TLSAData.from_text(record.to_text()) == record


@given(tlsa_data())
def test_presentation_agrees_with_dnspython(record: TLSAData) -> None:
    oracle = dns.rdata.from_text("IN", "TLSA", record.to_text())
    assert (oracle.usage, oracle.selector, oracle.mtype, oracle.cert) == (
        record.usage,
        record.selector,
        record.matching_type,
        record.data,
    )
    assert oracle.to_wire() == record.to_wire()
    # dnspython writes long data in chunks separated by spaces; reading it back gives the same.
    assert TLSAData.from_text(oracle.to_text()) == record


@given(tlsa_data())
def test_json_round_trip(record: TLSAData) -> None:
    owner = Owner.for_service("mx1.example.com", 25)
    text = formats.as_json([formats.Record("src", owner, 300, record)])
    (item,) = json.loads(text)["records"]
    back = TLSAData(
        item["usage"], item["selector"], item["matching_type"], bytes.fromhex(item["data"])
    )
    assert back == record


def test_from_text_accepts_names_and_parentheses() -> None:
    record = TLSAData.from_text("DANE-EE SPKI Full ( 0102\n 03 )")
    assert record == TLSAData(3, 1, 0, b"\1\2\3")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("3 1 1", "must be: usage selector matching-type hex-data"),
        ("3 1 0 xyz", "not hexadecimal"),
        ("3 1 0 abc", "not hexadecimal"),
        ("3 1 1 " + "ab" * 31, "needs 32 bytes of data, not 31"),
        ("3 1 2 " + "ab" * 32, "needs 64 bytes of data, not 32"),
    ],
)
def test_bad_record_text(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=re.escape(problem)):
        TLSAData.from_text(text)


@pytest.mark.parametrize(("matching_type", "length"), [(1, 32), (2, 64)])
def test_digest_lengths(matching_type: int, length: int) -> None:
    assert len(digest(b"spki", matching_type)) == length
    assert digest(b"spki", 0) == b"spki"


def test_undefined_matching_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="matching type 3 is not defined"):
        digest(b"spki", 3)


@pytest.mark.parametrize(
    ("params", "problem"),
    [("4 1 1", "usage 4 is not defined"), ("3 2 1", "selector 2 is not defined")],
)
def test_undefined_usage_or_selector_is_a_usage_error(pki: Pki, params: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        compute(material.read_source(str(pki.fullchain)), Params.parse(params))


@pytest.mark.parametrize("usage", [1, 3])
def test_selector_0_needs_a_certificate(pki: Pki, usage: int) -> None:
    key = material.read_source(str(pki.key("p256")))
    with pytest.raises(
        InputError, match=r"selector 0 .* needs a certificate, and this is a private"
    ):
        compute(key, Params(usage, 0, 1))


@pytest.mark.parametrize("usage", [0, 2])
@pytest.mark.parametrize(
    ("source", "what"), [("cert", "a lone certificate"), ("key", "a bare key")]
)
def test_trust_anchor_usage_needs_the_chain(pki: Pki, usage: int, source: str, what: str) -> None:
    path = pki.cert("p256") if source == "cert" else pki.key("p256")
    with pytest.raises(InputError, match=f"{what} has none; give the full chain"):
        compute(material.read_source(str(path)), Params(usage, 1, 1))


@pytest.mark.parametrize("ta", ["0", "4", "issuer", "-1", "\N{SUPERSCRIPT TWO}"])
def test_trust_anchor_position_out_of_the_chain(pki: Pki, ta: str) -> None:
    chain = material.read_source(str(pki.fullchain))
    with pytest.raises(UsageError, match="has CA positions 1 to 3 \\(or 'root'\\)"):
        compute(chain, Params(2, 1, 1), ta)
