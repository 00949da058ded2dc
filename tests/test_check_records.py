"""`check` with records tlsagen would never write: each is reported unusable with its reason, the
others are matched, and with none usable the verdict is a sender's: TLS without authentication,
mail delivered (RFC 7672 §2.2). Offline (--chain, --tlsa) and through a resolver that sends TLSA
rdata BIND cannot even hold (a rogue server on loopback). Against BIND, Unbound and the real
clients: tests/test_check_clients.py."""

from __future__ import annotations

import json

import dns.flags
import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.helpers import Cli, Pki
from tests.testbed.rogue import rogue_dns
from tlsagen.core.material import read_source
from tlsagen.core.tlsa import Params, compute

NO_USABLE = "no TLSA record at _25._tcp.p256.mx1.example.com. is usable"


def good(pki: Pki) -> str:
    return compute(read_source(str(pki.fullchain)), Params(3, 1, 1)).to_text()


def test_offline_malformed_records_are_unusable_not_a_usage_error(cli: Cli, pki: Pki) -> None:
    bad = ["3 1 1 abcd", "2 0 9 00", "not a record"]
    args = ["check", "--chain", pki.fullchain, "--tlsa", good(pki)]
    run = cli(*args, *(arg for text in bad for arg in ("--tlsa", text)), "--json")
    assert run.code == 0, run.err
    host = json.loads(run.out)["targets"][0]["hosts"][0]
    (live,) = host["probes"][0]["live"]
    assert live["matched"] == good(pki)
    found = {p["text"] for p in host["problems"]}
    assert any(t.startswith("3 1 1 abcd") and "needs 32 bytes of data, not 2" in t for t in found)
    assert any(t.startswith("2 0 9 00") and "matching type 9 is not defined" in t for t in found)
    assert [m["text"] for m in host["malformed"]] == ["not a record"]
    assert "not a record is unusable: TLSA record 'not a record' must be" in " ".join(found)


def test_offline_no_usable_record_is_a_warning_not_a_mismatch(cli: Cli, pki: Pki) -> None:
    pkix = "0 1 1 " + "ab" * 32  # PKIX usages are unusable on port 25 (RFC 7672 §3.1.3)
    args = ["check", "--chain", pki.fullchain, "--tlsa", "3 1 1 abcd", "--tlsa", pkix]
    run = cli(*args)
    assert run.code == 0, run.out + run.err
    assert NO_USABLE in run.out
    assert "require TLS but do not authenticate the server, and deliver" in run.out
    assert "mismatch" not in run.out
    assert cli(*args, "--strict").code == 6


def tlsa_reply(query: dns.message.Message, *datas: bytes) -> bytes:
    """A validating resolver's answer (AD set) holding `datas` as TLSA rdata, as given."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AD
    question = query.question[0]
    if question.rdtype == dns.rdatatype.TLSA:
        rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.TLSA)
        for data in datas:
            rrset.add(dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, data), 60)
        response.answer.append(rrset)
    return response.to_wire()


def test_rdata_under_three_octets_from_the_resolver(cli: Cli, pki: Pki) -> None:
    live = bytes.fromhex(good(pki)[6:])
    datas = [b"\x03\x01", b"\x03\x01\x01" + live]
    with rogue_dns(lambda wire: [tlsa_reply(dns.message.from_wire(wire), *datas)]) as server:
        args = ["check", "--chain", pki.fullchain, "--resolver", server.address()]
        run = cli(*args, "--timeout", "3")
        assert run.code == 0, run.out + run.err
        assert f"match, {good(pki)} at depth 0" in run.out
        assert r"record: unusable, \# 2 0301 (2 octet(s) of data" in run.out
        assert r"warning: \# 2 0301 is unusable" in run.out
        datas.pop()
        run = cli(*args, "--timeout", "3")
        assert run.code == 0, run.out + run.err
        assert NO_USABLE in run.out
