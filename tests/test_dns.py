"""tlsagen.net.dns: reading replies holding TLSA records dnspython refuses, and the query exchange.

Replies are built here (dnspython writes generic rdata of type TLSA as given) and served by a
rogue server on loopback: BIND refuses to hold TLSA rdata under 4 octets, so only a rogue server
sends them.
"""

from __future__ import annotations

import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import pytest

from tests.testbed.rogue import rogue_dns
from tlsagen.core.records import Malformed, Owner
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ProviderError
from tlsagen.net.dns import ReplyError, exchange, from_wire, tlsa_at, to_rrset
from tlsagen.provider import Endpoint

OWNER = Owner("_25._tcp.mx1.example.test.")
GOOD = bytes((3, 1, 1)) + b"\xab" * 32
# What dnspython refuses: under 3 octets, a SHA2-256 digest of 2 octets, a SHA2-512 one of 32.
REFUSED = [b"", b"\x03", b"\x03\x01", b"\x03\x01\x01\x12\x34", b"\x03\x01\x02" + b"\xcd" * 32]
# What it takes although tlsagen would never write it: empty data, undefined fields.
ODD = [b"\x03\x01\x00", b"\xff\x09\x09\x12\x34"]


def tlsa_rrset(*datas: bytes, name: str = OWNER.name) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.TLSA)
    for data in datas:
        rrset.add(dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, data), 300)
    return rrset


def reply(query: dns.message.Message, *datas: bytes) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.answer.append(tlsa_rrset(*datas))
    return response


def tlsa_query() -> dns.message.Message:
    return dns.message.make_query(OWNER.name, "TLSA")


@pytest.mark.parametrize("bad", REFUSED)
def test_dnspython_alone_refuses_these(bad: bytes) -> None:
    with pytest.raises(dns.exception.FormError):
        dns.message.from_wire(reply(tlsa_query(), GOOD, bad).to_wire())


def test_refused_records_are_kept_beside_the_others() -> None:
    wire = reply(tlsa_query(), GOOD, *REFUSED, *ODD).to_wire()
    message = from_wire(wire)
    (answer,) = message.answer
    assert answer.rdtype == dns.rdatatype.TLSA and answer.ttl == 300
    assert sorted(rdata.to_wire() for rdata in answer) == sorted([GOOD, *REFUSED, *ODD])
    found = to_rrset(OWNER, answer)
    assert found.records == {TLSAData(d[0], d[1], d[2], d[3:]) for d in [GOOD, *REFUSED[3:], *ODD]}
    assert found.malformed == {
        Malformed(
            text,
            f"{size} octet(s) of data: a TLSA record needs at least 3 (usage, "
            "selector, matching type)",
        )
        for text, size in ((r"\# 0", 0), (r"\# 1 03", 1), (r"\# 2 0301", 2))
    }


def test_a_reply_dnspython_reads_is_unchanged() -> None:
    wire = reply(tlsa_query(), GOOD, *ODD).to_wire()
    assert from_wire(wire) == dns.message.from_wire(wire)


def test_other_broken_data_still_fails() -> None:
    response = reply(tlsa_query(), b"\x03\x01")
    a = dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.A, b"\x7f\0\0")  # 3 octets
    response.additional.append(dns.rrset.from_rdata("mx1.example.test.", 60, a))
    with pytest.raises(dns.exception.FormError):
        from_wire(response.to_wire())
    with pytest.raises(dns.exception.FormError):  # cut short: the walk cannot explain it
        from_wire(reply(tlsa_query(), b"\x03\x01").to_wire()[:-1])


def test_tsig_still_verifies_and_a_bad_mac_still_fails() -> None:
    keyring = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"})
    query = tlsa_query()
    query.use_tsig(keyring, "k.")
    query.to_wire()  # signs it: sets its MAC
    response = reply(query, GOOD, b"\x03\x01")
    response.use_tsig(keyring, "k.")
    wire = response.to_wire()
    message = from_wire(wire, keyring=keyring, request_mac=query.mac)
    assert message.had_tsig and len(message.answer[0]) == 2
    tampered = bytearray(wire)
    tampered[wire.index(b"\x03\x01\x01\xab") + 4] ^= 1  # inside the MAC-covered answer
    with pytest.raises(dns.tsig.BadSignature):
        from_wire(bytes(tampered), keyring=keyring, request_mac=query.mac)


def test_exchange_reads_a_refused_record_over_udp() -> None:
    def answer(wire: bytes) -> list[bytes]:
        query = dns.message.from_wire(wire)
        stray = bytearray(reply(query, GOOD).to_wire())
        stray[1] ^= 1  # another id: a late answer to some other query
        return [bytes(stray), reply(query, b"\x03\x01", GOOD).to_wire()]

    with rogue_dns(answer) as server:
        found = tlsa_at(Endpoint(server.host, server.port), OWNER, timeout=5)
    assert found is not None
    assert found.records == {TLSAData(3, 1, 1, b"\xab" * 32)}
    assert [m.text for m in found.malformed] == [r"\# 2 0301"]


def test_exchange_falls_back_to_tcp_when_truncated() -> None:
    def truncated(wire: bytes) -> list[bytes]:
        response = dns.message.make_response(dns.message.from_wire(wire))
        response.flags |= dns.flags.TC
        return [response.to_wire()]

    def whole(wire: bytes) -> bytes:
        return reply(dns.message.from_wire(wire), b"", *REFUSED[3:]).to_wire()

    with rogue_dns(truncated, whole) as server:
        found = tlsa_at(Endpoint(server.host, server.port), OWNER, timeout=5)
    assert found is not None and len(found.records) == 2 and len(found.malformed) == 1


def test_an_unreadable_reply_is_named_when_no_other_comes() -> None:
    def garbage(wire: bytes) -> list[bytes]:
        return [wire[:2] + b"\x84\x00\x00\x01\x00\x09\x00\x00\x00\x00\xff\xff"]

    with rogue_dns(garbage) as server:
        started = time.monotonic()
        with pytest.raises(ProviderError, match="its reply cannot be read"):
            tlsa_at(Endpoint(server.host, server.port), OWNER, timeout=0.5)
    assert time.monotonic() - started < 3


def test_exchange_skips_a_reply_to_another_question() -> None:
    def other(wire: bytes) -> list[bytes]:
        query = dns.message.from_wire(wire)
        wrong = dns.message.make_query("_26._tcp.mx1.example.test.", "TLSA", id=query.id)
        return [reply(wrong, GOOD).to_wire(), reply(query, b"\x03").to_wire()]

    with rogue_dns(other) as server:
        response = exchange(tlsa_query(), Endpoint(server.host, server.port), 5)
    assert [r.to_wire() for r in response.answer[0]] == [b"\x03"]


def test_exchange_verifies_a_tsig_signed_reply_over_tcp() -> None:
    keyring = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"})
    forged = dns.tsigkeyring.from_text({"k.": "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcg=="})
    signer = {"ring": keyring}

    def truncated(wire: bytes) -> list[bytes]:
        response = dns.message.make_response(dns.message.from_wire(wire, keyring=False))
        response.flags |= dns.flags.TC
        return [response.to_wire()]

    def whole(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire, keyring=False)  # the server's key may be another
        response = reply(query, GOOD, b"\x03")
        response.use_tsig(signer["ring"], "k.")
        response.request_mac = query.mac
        return response.to_wire()

    query = tlsa_query()
    query.use_tsig(keyring, "k.")
    with rogue_dns(truncated, whole) as server:
        endpoint = Endpoint(server.host, server.port)
        response = exchange(query, endpoint, 5)
        assert response.had_tsig and len(response.answer[0]) == 2
        signer["ring"] = forged
        with pytest.raises(ReplyError, match="fails to verify") as failed:
            exchange(query, endpoint, 5)
        assert isinstance(failed.value.__cause__, dns.tsig.BadSignature)
        assert failed.value.wire is not None  # for the caller to explain (see tlsagen-rfc2136)
