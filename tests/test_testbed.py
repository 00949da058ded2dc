"""Smoke tests of the DNS lab fixtures (tests/testbed)."""

import base64
import hashlib
import stat
import time
from collections.abc import Callable
from functools import partial

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from tests.testbed import (
    DnsLab,
    LabError,
    Server,
    TsigKey,
    Zone,
    flush_resolver,
    nsupdate,
    pause,
    query,
)

TLSA = "3 1 1 " + hashlib.sha256(b"tlsagen testbed").hexdigest()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def update_message(zone: Zone, key: TsigKey) -> dns.update.UpdateMessage:
    keyring = dns.tsigkeyring.from_text({key.name: (key.algorithm, key.secret)})
    keyname = dns.name.from_text(key.name)
    return dns.update.UpdateMessage(zone.name, keyring=keyring, keyname=keyname)


def send(zone: Zone, update: dns.update.UpdateMessage) -> dns.message.Message:
    return dns.query.tcp(update, zone.primary.host, port=zone.primary.port, timeout=5)


def send_update(
    zone: Zone, key: TsigKey, name: str, rdtype: str, value: str
) -> dns.message.Message:
    update = update_message(zone, key)
    update.add(name, 60, rdtype, value)
    return send(zone, update)


def serves(server: Server, name: str, rdtype: str, value: str, *, recurse: bool = False) -> bool:
    """True if server answers name/rdtype with value, signed (or validated, when recursing)."""
    response = query(server, name, rdtype, recurse=recurse)
    values = {rd.to_text() for rrset in response.answer for rd in rrset}
    types = {rrset.rdtype for rrset in response.answer}
    secure = bool(response.flags & dns.flags.AD) if recurse else dns.rdatatype.RRSIG in types
    return value in values and secure


def zone_of(lab: DnsLab, which: str) -> Zone:
    zone: Zone = getattr(lab, which)
    return zone


def test_every_server_answers_authoritatively(dns_lab: DnsLab) -> None:
    checks = [(dns_lab.root, "."), (dns_lab.root, dns_lab.bogus_zone)]
    checks += [(dns_lab.root, dns_lab.unsigned_zone)]
    checks += [
        (server, zone.name) for zone in (dns_lab.bind, dns_lab.knot) for server in zone.servers
    ]
    for server, name in checks:
        response = query(server, name, "SOA")
        assert response.rcode() == dns.rcode.NOERROR, server
        assert response.flags & dns.flags.AA, server
    assert [s.name for s in dns_lab.bind.servers] == ["bind-primary", "bind-secondary"]
    assert dns_lab.resolver.address() == f"127.0.0.1:{dns_lab.resolver.port}"


def test_key_files_are_private_bind_key_files(dns_lab: DnsLab) -> None:
    for key in (dns_lab.bind.key, dns_lab.bind.txt_only_key):
        assert stat.S_IMODE(key.key_file.stat().st_mode) == 0o600
        parsed = dns.tsigkeyring.from_file(key.key_file)[dns.name.from_text(key.name)]
        assert parsed.secret == base64.b64decode(key.secret)
        assert parsed.algorithm == dns.name.from_text(key.algorithm)


@pytest.mark.parametrize("which", ["bind", "knot"])
def test_tlsa_update_reaches_every_server_and_the_resolver(
    dns_lab: DnsLab, fresh_host: str, which: str
) -> None:
    zone = zone_of(dns_lab, which)
    name = f"_25._tcp.{fresh_host}.{zone.name}"
    response = send_update(zone, zone.key, name, "TLSA", TLSA)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.had_tsig
    for server in zone.servers:
        eventually(partial(serves, server, name, "TLSA", TLSA))
    eventually(lambda: serves(dns_lab.resolver, name, "TLSA", TLSA, recurse=True))


@pytest.mark.parametrize("which", ["bind", "knot"])
def test_txt_only_key_may_update_txt_but_not_tlsa(
    dns_lab: DnsLab, fresh_host: str, which: str
) -> None:
    zone = zone_of(dns_lab, which)
    name = f"{fresh_host}.{zone.name}"
    assert send_update(zone, zone.txt_only_key, name, "TXT", '"ok"').rcode() == dns.rcode.NOERROR
    try:
        rcode = send_update(zone, zone.txt_only_key, name, "TLSA", TLSA).rcode()
    except dns.tsig.PeerBadKey:  # Knot: NOTAUTH with TSIG error BADKEY, unsigned
        rcode = dns.rcode.NOTAUTH
    assert rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH)
    assert query(zone.primary, name, "TLSA").answer == []


def test_resolver_validates(dns_lab: DnsLab) -> None:
    for zone in (".", dns_lab.bind.name, dns_lab.knot.name):
        response = query(dns_lab.resolver, zone, "SOA", recurse=True)
        assert response.rcode() == dns.rcode.NOERROR, zone
        assert response.flags & dns.flags.AD, zone
    mx = query(dns_lab.resolver, dns_lab.bind.name, "MX", recurse=True)
    assert sorted(rd.to_text() for rd in mx.answer[0]) == [
        "10 mx1.example.test.",
        "20 mx2.example.test.",
    ]

    bogus = query(dns_lab.resolver, f"mail.{dns_lab.bogus_zone}", "A", recurse=True)
    assert bogus.rcode() == dns.rcode.SERVFAIL
    assert bogus.extended_errors(), "bogus answer should carry an EDE option"

    unsigned = query(dns_lab.resolver, f"mail.{dns_lab.unsigned_zone}", "A", recurse=True)
    assert unsigned.rcode() == dns.rcode.NOERROR
    assert unsigned.answer
    assert not unsigned.flags & dns.flags.AD


def test_nsupdate_while_secondary_is_paused(dns_lab: DnsLab, fresh_host: str) -> None:
    zone = dns_lab.bind
    primary, secondary = zone.servers
    name = f"_25._tcp.{fresh_host}.{zone.name}"
    with pause(secondary):
        nsupdate(zone, [f"update add {name} 60 TLSA {TLSA}"])
        eventually(lambda: serves(primary, name, "TLSA", TLSA))
        with pytest.raises(dns.exception.Timeout):
            query(secondary, name, "TLSA", timeout=0.5)
    eventually(lambda: serves(secondary, name, "TLSA", TLSA))


def test_nsupdate_reports_a_refused_update(dns_lab: DnsLab, fresh_host: str) -> None:
    zone = dns_lab.bind
    line = f"update add _25._tcp.{fresh_host}.{zone.name} 60 TLSA {TLSA}"
    with pytest.raises(LabError, match="REFUSED"):
        nsupdate(zone, [line], key=zone.txt_only_key)


def test_flush_resolver_drops_cached_answers(dns_lab: DnsLab, fresh_host: str) -> None:
    zone = dns_lab.knot
    name = f"_25._tcp.{fresh_host}.{zone.name}"
    old, new = TLSA, "3 1 1 " + hashlib.sha256(b"next key").hexdigest()
    assert send_update(zone, zone.key, name, "TLSA", old).rcode() == dns.rcode.NOERROR
    eventually(lambda: serves(dns_lab.resolver, name, "TLSA", old, recurse=True))
    update = update_message(zone, zone.key)
    update.replace(name, 60, "TLSA", new)
    assert send(zone, update).rcode() == dns.rcode.NOERROR
    eventually(lambda: serves(zone.primary, name, "TLSA", new))
    flush_resolver(dns_lab, zone.name)  # else the old answer stays cached for up to 5 s
    assert serves(dns_lab.resolver, name, "TLSA", new, recurse=True)
