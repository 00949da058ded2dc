"""Owner names (validated, IDNA 2008, absolute) and the changes between TLSA RRsets."""

from __future__ import annotations

import re
import string

import dns.name
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tlsagen.core.records import (
    PROTOCOLS,
    Change,
    Owner,
    RRset,
    diff,
    holds_every_after,
    host_name,
    rrset,
    settle_unanswered,
)
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ProviderError, UsageError
from tlsagen.testing import record

LDH_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", fullmatch=True)
LONG_LABEL = st.text(string.ascii_letters + string.digits, min_size=50, max_size=63)
PORTS = st.integers(1, 65535)


def wire_length(name: str) -> int:
    """Octets of an absolute name in wire form: a length octet per label, and the root."""
    return sum(len(label) + 1 for label in name.rstrip(".").split(".")) + 1


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("MX1.Example.COM", "mx1.example.com."),
        ("mx1.example.com.", "mx1.example.com."),
        (" mx1.example.com ", "mx1.example.com."),
        ("localhost", "localhost."),
        ("bücher.example", "xn--bcher-kva.example."),
        ("BÜCHER.example", "xn--bcher-kva.example."),
        ("straße.example", "xn--strae-oqa.example."),  # IDNA 2008: ß is kept, not mapped to ss
        ("почта.рф", "xn--80a1acny.xn--p1ai."),
        ("xn--bcher-kva.example", "xn--bcher-kva.example."),
        # full-width letters and digits, and ideographic full stops, are mapped (UTS 46)
        ("\uff4d\uff58\uff11\u3002Example\u3002COM", "mx1.example.com."),
    ],
)
def test_host_names(host: str, name: str) -> None:
    assert host_name(host) == name


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "host name is empty"),
        (".", "host name is empty"),
        ("a" * 64 + ".example", f"is not valid: label '{'a' * 64}' is over 63 octets"),
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63, "longer than 255 octets"),
        ("mx1..example.com", "is not valid: it has an empty label"),
        ("mx1.example.com..", "is not valid: it has an empty label"),
        ("mx_1.example.com", "label 'mx_1' may hold only letters, digits and inner hyphens"),
        ("-mx1.example.com", "label '-mx1' may hold only"),
        ("mx1-.example.com", "label 'mx1-' may hold only"),
        ("mx 1.example.com", "label 'mx 1' may hold only"),
        ("\N{SNOWMAN}.example", "is not valid"),
    ],
)
def test_bad_host_names_are_usage_errors_with_the_reason(host: str, reason: str) -> None:
    with pytest.raises(UsageError, match=re.escape(reason)):
        host_name(host)


@given(st.lists(LDH_LABEL, min_size=1, max_size=6), PORTS, st.sampled_from(PROTOCOLS))
def test_any_valid_name_round_trips_through_dnspython(
    labels: list[str], port: int, proto: str
) -> None:
    host = ".".join(labels)
    text = f"_{port}._{proto}.{host}."
    assume(wire_length(text) <= 255)
    owner = Owner.for_service(host, port, proto)
    assert owner.name == text.lower()
    parsed = dns.name.from_text(owner.name)
    assert parsed == dns.name.from_text(text)
    assert parsed.to_text() == owner.name
    assert (owner.host, owner.port) == (host.lower() + ".", port)


@given(st.lists(LONG_LABEL, min_size=4, max_size=6), PORTS)
@example(["a" * 61] * 4, 25)  # the host fits in 255 octets, the owner name does not
def test_owner_names_over_255_octets_are_rejected(labels: list[str], port: int) -> None:
    host = ".".join(labels)
    assume(wire_length(f"_{port}._tcp.{host}.") > 255)
    with pytest.raises(UsageError, match="255 octets"):
        Owner.for_service(host, port)


@pytest.mark.parametrize(
    ("port", "proto", "reason"),
    [
        (0, "tcp", "port 0 is out of range 1-65535"),
        (65536, "tcp", "port 65536 is out of range"),
        (25, "icmp", "protocol 'icmp' is not one of tcp, udp, sctp"),
    ],
)
def test_bad_port_or_protocol(port: int, proto: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        Owner.for_service("mx1.example.com", port, proto)


OWNER_A = Owner.for_service("a.example.com", 25)
OWNER_B = Owner.for_service("b.example.com", 25)
ONE = rrset(OWNER_A, 300, [record("one")])


def test_diff_creates_replaces_and_deletes_in_owner_order() -> None:
    two = rrset(OWNER_A, 300, [record("one"), record("two")])
    b_now = rrset(OWNER_B, 300, [record("b")])
    changes = diff({OWNER_B: None, OWNER_A: two}, {OWNER_A: ONE, OWNER_B: b_now})
    assert changes == (Change(OWNER_A, ONE, two), Change(OWNER_B, b_now, None))
    assert (changes[0].added, changes[0].removed) == ({record("two")}, frozenset())
    assert (changes[1].added, changes[1].removed) == (frozenset(), {record("b")})


def test_diff_leaves_out_what_is_already_there() -> None:
    same = rrset(OWNER_A, 300, [record("one")])
    assert diff({OWNER_A: same, OWNER_B: None}, {OWNER_A: ONE}) == ()


def test_diff_sees_a_ttl_change() -> None:
    longer = rrset(OWNER_A, 3600, [record("one")])
    (change,) = diff({OWNER_A: longer}, {OWNER_A: ONE})
    assert (change.added, change.removed, change.after) == (frozenset(), frozenset(), longer)


def test_rrset_texts_are_sorted() -> None:
    both = rrset(OWNER_A, 300, [record("z"), record("a")])
    assert both.texts() == sorted([record("z").to_text(), record("a").to_text()])


UNICODE_LABEL = st.text(st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=12)


@given(st.lists(UNICODE_LABEL, min_size=1, max_size=3))
def test_unicode_names_are_what_dnspython_makes_of_them(labels: list[str]) -> None:
    """dnspython's IDNA 2008 codec is the oracle: a name we accept, it encodes the same way."""
    host = ".".join(labels)
    try:
        name = host_name(host)
    except UsageError:
        return
    oracle = dns.name.from_unicode(host + ".", idna_codec=dns.name.IDNA_2008_Practical)
    assert oracle.to_text().lower() == name


def test_holds_every_after_needs_every_owner_exactly() -> None:
    a, b = Owner.for_service("a.example", 25), Owner.for_service("b.example", 25)
    old, new = rrset(a, 300, [record("old")]), rrset(a, 300, [record("new")])
    changes = [Change(a, old, new), Change(b, rrset(b, 300, [record("x")]), None)]
    assert holds_every_after({a: new}, changes)
    assert not holds_every_after({a: new, b: rrset(b, 300, [record("x")])}, changes)
    assert not holds_every_after({a: rrset(a, 60, [record("new")])}, changes)  # TTL counts
    assert not holds_every_after({a: old}, changes)


def test_an_unanswered_write_is_settled_by_what_dns_holds() -> None:
    owner = Owner.for_service("mx.example.com", 25)
    after = rrset(owner, 300, [TLSAData(3, 1, 1, bytes(32))])
    change = Change(owner, None, after)
    unanswered = ProviderError("no answer to the UPDATE")
    settle_unanswered(lambda: {owner: after}, [change], unanswered)  # it went through
    with pytest.raises(ProviderError, match="does not hold the change, so it is not applied"):
        settle_unanswered(dict, [change], unanswered)

    def failing() -> dict[Owner, RRset]:
        raise ProviderError("timed out")

    with pytest.raises(ProviderError, match=r"reading the zone back failed \(timed out\): it may"):
        settle_unanswered(failing, [change], unanswered)
