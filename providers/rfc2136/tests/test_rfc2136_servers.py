"""The provider against real servers from the testbed: BIND (inline signing) and Knot."""

from __future__ import annotations

import base64
import logging
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.testbed import DnsLab, Zone, nsupdate, pause
from tests.testbed.faulty import RCODE, FaultyDns, Rule
from tests.testbed.knot import knotc_replace
from tlsagen.core.records import Change, ChangeSet, Owner, RRset, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, ProviderError
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen.testing import Harness, ProviderContract, record
from tlsagen_rfc2136 import create, provider, transport
from tlsagen_rfc2136.provider import Rfc2136Provider
from tlsagen_rfc2136.wire import split

WHERE = "test [providers.dns]"
ZONES = ["bind", "knot"]


def make_provider(lab: DnsLab, zone: Zone, /, **options: Any) -> Rfc2136Provider:
    """A provider for the zone's primary with the zone's TLSA key; `options` override (None:
    remove)."""
    defaults = {"server": zone.primary.address(), "key-file": str(zone.key.key_file), "timeout": 2}
    table = {key: value for key, value in {**defaults, **options}.items() if value is not None}
    resolver = Endpoint(lab.resolver.host, lab.resolver.port)
    return create(ProviderSettings("dns", table, WHERE, Path("/"), resolver))


def external_writer(zone: Zone) -> Callable[[Owner, RRset | None], None]:
    """A concurrent writer: the real `nsupdate -k KEYFILE`."""

    def write(owner: Owner, value: RRset | None) -> None:
        lines = [f"update delete {owner} TLSA"]
        if value is not None:
            lines += [f"update add {owner} {value.ttl} TLSA {r.to_text()}" for r in value.records]
        nsupdate(zone, lines)

    return write


def planter(zone: Zone) -> Callable[[Owner, Sequence[str]], None]:
    """Records written as they are, with the real `nsupdate -k KEYFILE`."""

    def plant(owner: Owner, texts: Sequence[str]) -> None:
        nsupdate(
            zone,
            [f"update delete {owner} TLSA"]
            + [f"update add {owner} 300 TLSA {text}" for text in texts],
        )

    return plant


def contract_harness(lab: DnsLab, zone: Zone, prefix: str) -> Harness:
    return Harness(
        make_provider(lab, zone),
        zone.name,
        external_writer(zone),
        prefix=prefix,
        plant=planter(zone),
    )


class TestBindContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def harness(cls, dns_lab: DnsLab) -> Harness:
        return contract_harness(dns_lab, dns_lab.bind, "rfc2136-bind")


class TestKnotContract(ProviderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def harness(cls, dns_lab: DnsLab) -> Harness:
        return contract_harness(dns_lab, dns_lab.knot, "rfc2136-knot")


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest, dns_lab: DnsLab) -> Zone:
    found: Zone = getattr(dns_lab, request.param)
    return found


def owner_in(zone: Zone, label: str) -> Owner:
    return Owner.for_service(f"{label}.{zone.name}", 25)


def create_change(zone: str, owner: Owner, seed: str = "a") -> ChangeSet:
    return ChangeSet(zone, (Change(owner, None, rrset(owner, 300, [record(seed)])),))


def wrong_secret() -> str:
    return base64.b64encode(b"not the secret of this key").decode()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"secret": "env:WRONG_SECRET"}, r"BADSIG\): the secret differs"),
        ({"key-name": "nobody", "secret": "env:RIGHT_SECRET"}, r"key nobody\. .*\(BADKEY\)"),
        ({"algorithm": "hmac-sha512", "secret": "env:RIGHT_SECRET"}, r"hmac-sha512 \(BADKEY\)"),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-algorithm"],
)
def test_tsig_failures_are_explained_and_change_nothing(
    dns_lab: DnsLab,
    zone: Zone,
    fresh_host: str,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.setenv("WRONG_SECRET", wrong_secret())
    monkeypatch.setenv("RIGHT_SECRET", zone.key.secret)
    keyed = make_provider(dns_lab, zone, **{"key-file": None, "key-name": zone.key.name, **options})
    owner = owner_in(zone, fresh_host)
    with pytest.raises(ProviderError, match=expected) as failed_read:
        keyed.read(zone.name, [owner])  # reads are signed: `plan` proves the key already
    with pytest.raises(ProviderError, match=expected):
        keyed.apply(create_change(zone.name, owner))
    assert make_provider(dns_lab, zone).read(zone.name, [owner]) == {}
    assert wrong_secret() not in str(failed_read.value)
    assert zone.key.secret not in str(failed_read.value)


def test_reads_are_signed_and_their_answers_checked(
    dns_lab: DnsLab, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dns.message.Message] = []
    exchange = transport.shared_exchange

    def recording(request: dns.message.Message, *args: Any) -> dns.message.Message:
        sent.append(request)
        response = exchange(request, *args)
        assert response.had_tsig  # verified by dnspython against the request's MAC
        return response

    monkeypatch.setattr(transport, "shared_exchange", recording)
    zone = dns_lab.bind
    make_provider(dns_lab, zone).read(zone.name, [owner_in(zone, fresh_host)])
    asked = [(request.question[0].rdtype.name, request.keyname.to_text()) for request in sent]
    assert asked == [("DNSKEY", zone.key.name), ("TLSA", zone.key.name)]  # the signing check too


@pytest.mark.parametrize("rcode", ["NOTAUTH", "SERVFAIL", "NOERROR"])
def test_an_unsigned_answer_to_a_read_is_refused(
    dns_lab: DnsLab, fresh_host: str, rcode: str
) -> None:
    """Something on the path answers in the server's place (or a server that did not accept the
    key, as PowerDNS answers NOTAUTH): without the key's signature, nothing is believed."""
    zone = dns_lab.bind
    proxy = FaultyDns(zone.primary)
    try:
        proxy.spoil(Rule(RCODE, qtype="TLSA", rcode=dns.rcode.from_text(rcode)))
        keyed = make_provider(dns_lab, zone, server=proxy.address())
        expected = (
            f"answered {rcode} without a signature to a query for _25._tcp.{fresh_host}"
            if rcode != "NOERROR"
            else "failed its TSIG check"
        )
        with pytest.raises(ProviderError, match=expected):
            keyed.read(zone.name, [owner_in(zone, fresh_host)])
    finally:
        proxy.close()


def test_rdata_under_3_octets_written_by_knotc_is_read_and_repaired(
    dns_lab: DnsLab, fresh_host: str
) -> None:
    """Knot holds TLSA rdata of 2 octets when knotc writes it: read as Malformed in generic form,
    and replaced by an UPDATE whose prerequisite repeats those 2 octets."""
    zone = dns_lab.knot
    owner = owner_in(zone, fresh_host)
    knotc_replace(dns_lab.workdir / "knot", zone.name, owner.name, "TLSA", ["\\# 2 0301"])
    keyed = make_provider(dns_lab, zone)
    held = keyed.read(zone.name, [owner])[owner]
    assert held.records == set() and [bad.text for bad in held.malformed] == ["\\# 2 0301"]
    knotc_replace(dns_lab.workdir / "knot", zone.name, owner.name, "TLSA", ["\\# 2 0302"])
    new = rrset(owner, 300, [record("a")])
    with pytest.raises(ConflictError):
        keyed.apply(ChangeSet(zone.name, (Change(owner, held, new),)))
    held = keyed.read(zone.name, [owner])[owner]
    assert [bad.text for bad in held.malformed] == ["\\# 2 0302"]
    keyed.apply(ChangeSet(zone.name, (Change(owner, held, new),)))
    assert keyed.read(zone.name, [owner]) == {owner: new}


def test_key_the_update_policy_forbids_tlsa_is_explained(
    dns_lab: DnsLab, zone: Zone, fresh_host: str
) -> None:
    """BIND answers REFUSED; Knot answers NOTAUTH with TSIG error BADKEY."""
    keyed = make_provider(dns_lab, zone, **{"key-file": str(zone.txt_only_key.key_file)})
    owner = owner_in(zone, fresh_host)
    expected = "REFUSED" if zone is dns_lab.bind else "BADKEY"
    with pytest.raises(ProviderError, match=expected) as caught:
        keyed.apply(create_change(zone.name, owner))
    message = str(caught.value)
    assert "update-type: [TLSA]" in message
    if zone is dns_lab.bind:
        assert "update-policy { grant txt-only-key. zonesub TLSA; }" in message
    assert make_provider(dns_lab, zone).read(zone.name, [owner]) == {}


def test_zone_the_server_does_not_serve_is_notauth(dns_lab: DnsLab, zone: Zone) -> None:
    stranger = Owner.for_service("mx.elsewhere.test", 25)
    keyed = make_provider(dns_lab, zone, zone="elsewhere.test")
    with pytest.raises(ProviderError, match=r"NOTAUTH for elsewhere\.test\.: it is not the zone's"):
        keyed.apply(create_change("elsewhere.test.", stranger))


def test_owner_outside_the_zone_is_notzone(dns_lab: DnsLab, fresh_host: str) -> None:
    stranger = owner_in(dns_lab.knot, fresh_host)
    change = Change(stranger, None, rrset(stranger, 300, [record("a")]))
    with pytest.raises(ProviderError, match="NOTZONE"):
        make_provider(dns_lab, dns_lab.bind).apply(ChangeSet(dns_lab.bind.name, (change,)))


def test_clock_skew_is_badtime_with_the_offset(
    dns_lab: DnsLab, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Behind:
        sleep = staticmethod(time.sleep)

        @staticmethod
        def time() -> float:
            return time.time() - 3600

    monkeypatch.setattr(dns.message, "time", Behind)  # the TSIG time signed
    monkeypatch.setattr(transport, "time", Behind)
    owner = owner_in(dns_lab.bind, fresh_host)
    with pytest.raises(
        ProviderError, match=r"BADTIME\): this machine's clock is 3[56]\d\d s behind"
    ):
        make_provider(dns_lab, dns_lab.bind).apply(create_change(dns_lab.bind.name, owner))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_server_down_is_a_quick_clear_error(dns_lab: DnsLab, fresh_host: str) -> None:
    down = f"127.0.0.1:{closed_port()}"
    keyed = make_provider(dns_lab, dns_lab.bind, server=down)
    owner = owner_in(dns_lab.bind, fresh_host)
    started = time.monotonic()
    with pytest.raises(ProviderError, match=f"cannot reach {down} over (UDP|TCP)"):
        keyed.read(dns_lab.bind.name, [owner])
    with pytest.raises(ProviderError, match=f"cannot reach {down} over (UDP|TCP)"):
        keyed.apply(create_change(dns_lab.bind.name, owner))
    assert time.monotonic() - started < 1


def test_hanging_server_times_out(
    dns_lab: DnsLab, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "BACKOFF", 0.01)
    keyed = make_provider(dns_lab, dns_lab.bind, timeout=0.2)
    owner = owner_in(dns_lab.bind, fresh_host)
    started = time.monotonic()
    timed_out = pytest.raises(ProviderError, match=r"did not answer within 0\.2 s")
    with pause(dns_lab.bind.primary), timed_out:
        keyed.apply(create_change(dns_lab.bind.name, owner))
    # Two sends of the UPDATE, then a read of ATTEMPTS queries: each waits out the timeout.
    assert time.monotonic() - started < 0.2 * (2 + transport.ATTEMPTS) + 1


def test_an_unanswered_update_is_sent_again_under_the_same_prerequisites(
    dns_lab: DnsLab, fresh_host: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server wakes up after the first send timed out: it runs both, the second is refused by
    its prerequisites (or runs first, and then the first is), and the change is applied once."""
    keyed = make_provider(dns_lab, dns_lab.bind, timeout=0.5)
    owner = owner_in(dns_lab.bind, fresh_host)
    change = create_change(dns_lab.bind.name, owner)
    with ThreadPoolExecutor(1) as pool:
        with pause(dns_lab.bind.primary):
            applied = pool.submit(keyed.apply, change)
            time.sleep(0.75)  # the first send times out after 0.5 s; the second waits for us
        applied.result(timeout=10)
    assert "sending the UPDATE again" in caplog.text
    assert keyed.read(dns_lab.bind.name, [owner]) == {owner: change.changes[0].after}


def test_concurrent_change_between_read_and_apply_conflicts(
    dns_lab: DnsLab, zone: Zone, fresh_host: str
) -> None:
    keyed = make_provider(dns_lab, zone)
    owner, other = owner_in(zone, fresh_host), owner_in(zone, fresh_host + "-other")
    keyed.apply(create_change(zone.name, owner, "read"))
    read = keyed.read(zone.name, [owner, other])
    nsupdate(zone, [f"update add {owner} 300 TLSA {record('intruder').to_text()}"])
    changes = ChangeSet(
        zone.name,
        (
            Change(other, None, rrset(other, 300, [record("o")])),
            Change(owner, read[owner], rrset(owner, 300, [record("new")])),
        ),
    )
    with pytest.raises(ConflictError, match=f"^{owner} changed since it was read"):
        keyed.apply(changes)
    assert keyed.read(zone.name, [owner, other]) == {
        owner: rrset(owner, 300, [record("read"), record("intruder")])
    }


def test_retried_apply_is_idempotent(dns_lab: DnsLab, zone: Zone, fresh_host: str) -> None:
    keyed = make_provider(dns_lab, zone)
    owner = owner_in(zone, fresh_host)
    created = create_change(zone.name, owner)
    deleted = ChangeSet(zone.name, (Change(owner, created.changes[0].after, None),))
    for changes in (created, created, deleted, deleted):
        keyed.apply(changes)
    assert keyed.read(zone.name, [owner]) == {}


def large_change_set(zone: Zone, label: str) -> ChangeSet:
    """60 new owners with a `3 0 0` and a `3 1 0` record each: two UPDATEs of 64 KiB at most."""
    owners = [owner_in(zone, f"{label}-{n}") for n in range(60)]
    return ChangeSet(
        zone.name,
        tuple(
            Change(o, None, rrset(o, 300, [TLSAData(3, 0, 0, bytes([n]) * 1000), record(o.name)]))
            for n, o in enumerate(owners)
        ),
    )


def test_large_change_set_is_split_and_wholly_applied(dns_lab: DnsLab, fresh_host: str) -> None:
    keyed = make_provider(dns_lab, dns_lab.bind)
    changes = large_change_set(dns_lab.bind, fresh_host)
    assert len(split(changes.changes)) == 2
    keyed.apply(changes)
    owners = [change.owner for change in changes.changes]
    assert keyed.read(dns_lab.bind.name, owners) == {c.owner: c.after for c in changes.changes}


@pytest.mark.parametrize("zone", ZONES, indirect=True)
def test_each_update_waits_for_the_serial_and_the_last_one_reads_them_all(
    dns_lab: DnsLab, zone: Zone, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each UPDATE but the first is sent once the primary's SOA serial moved from the serial
    before the one before it (BIND signing inline drops an UPDATE sent while it signs the one
    before); the owners of every UPDATE are read once, after the last one, and again only after
    the serial moved; the primary is then named confirmed."""
    keyed = make_provider(dns_lab, zone)
    events: list[tuple[str, Any]] = []
    real_serial, real_read, real_send = keyed._serial, keyed.read, keyed._send

    def serial(name: str, server: Endpoint) -> int | None:
        events.append(("serial", real_serial(name, server)))
        return events[-1][1]  # type: ignore[no-any-return]

    def read(name: str, owners: Any) -> Any:
        events.append(("read", len(owners)))
        return real_read(name, owners)

    def send(name: str, update: Any, server: Endpoint, wire: bytes | None = None) -> Any:
        events.append(("update", None))
        return real_send(name, update, server, wire)

    monkeypatch.setattr(keyed, "_serial", serial)
    monkeypatch.setattr(keyed, "read", read)
    monkeypatch.setattr(keyed, "_send", send)
    changes = large_change_set(zone, fresh_host)
    keyed.apply(changes)
    assert keyed.confirmed(zone.name) == Endpoint(zone.primary.host, zone.primary.port)
    updates = [at for at, (kind, _) in enumerate(events) if kind == "update"]
    assert len(updates) == len(split(changes.changes)) == 2
    before = [value for kind, value in events[: updates[1]] if kind == "serial"]
    assert None not in before and before[-1] != before[0]  # it moved before the second UPDATE
    reads = [(at, value) for at, (kind, value) in enumerate(events) if kind == "read"]
    assert reads[0][0] > updates[-1] and reads[0][1] == len(changes.changes)
    after = [value for kind, value in events[updates[-1] :] if kind == "serial"]
    assert len(reads) <= 1 + sum(1 for a, b in pairwise(after) if a != b)


def test_conflict_in_a_later_update_says_the_earlier_ones_were_applied(
    dns_lab: DnsLab, fresh_host: str
) -> None:
    zone = dns_lab.bind
    keyed = make_provider(dns_lab, zone)
    changes = large_change_set(zone, fresh_host)
    last = changes.changes[-1].owner
    nsupdate(zone, [f"update add {last} 300 TLSA {record('intruder').to_text()}"])
    with pytest.raises(
        ConflictError, match=r"needed 2 UPDATEs .* the first 1 of them were applied"
    ):
        keyed.apply(changes)
    first = changes.changes[0]
    assert keyed.read(zone.name, [first.owner, last]) == {
        first.owner: first.after,
        last: rrset(last, 300, [record("intruder")]),
    }


@pytest.fixture
def axfr_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider, "AXFR_MIN_OWNERS", 1)
    monkeypatch.setattr(provider, "AXFR_RECORDS_PER_OWNER", 10**9)


def test_read_by_axfr_equals_read_by_queries(
    dns_lab: DnsLab,
    zone: Zone,
    fresh_host: str,
    axfr_always: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "tlsagen")
    keyed = make_provider(dns_lab, zone)
    owners = [owner_in(zone, f"{fresh_host}-{n}") for n in range(3)]
    sets = {o: rrset(o, 600, [record(o.name), record("x", "3 1 2")]) for o in owners[:2]}
    keyed.apply(ChangeSet(zone.name, tuple(Change(o, None, s) for o, s in sets.items())))
    assert keyed.read(zone.name, owners) == sets
    if zone is dns_lab.bind:  # the Knot ACL with update-type does not allow transfers
        assert "AXFR" not in caplog.text
    refused = make_provider(dns_lab, zone, **{"key-file": str(zone.txt_only_key.key_file)})
    caplog.clear()
    assert refused.read(zone.name, owners) == sets  # no transfer for this key: queries instead
    assert "AXFR of" in caplog.text


def test_a_record_dnspython_refuses_is_read_out_of_a_transfer(
    dns_lab: DnsLab, fresh_host: str, axfr_always: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A digest of the wrong length in the zone (which fails dnspython's own AXFR) is read out
    of the transfer as it is, the unusable record with the others."""
    caplog.set_level(logging.DEBUG, "tlsagen")
    zone = dns_lab.bind
    owners = [owner_in(zone, f"{fresh_host}-{n}") for n in range(2)]
    planted = {owners[0]: rrset(owners[0], 300, [TLSAData(3, 1, 1, b"\xab\xcd")])}
    planter(zone)(owners[0], ["3 1 1 abcd"])
    keyed = make_provider(dns_lab, zone)
    try:
        assert keyed.read(zone.name, owners) == planted
        assert "AXFR of example.test. from" not in caplog.text  # no fallback to queries
    finally:
        keyed.apply(ChangeSet(zone.name, (Change(owners[0], planted[owners[0]], None),)))
    assert keyed.read(zone.name, owners) == {}


def test_an_axfr_far_larger_than_the_read_is_given_up_for_queries(
    dns_lab: DnsLab,
    fresh_host: str,
    axfr_always: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, "tlsagen")
    monkeypatch.setattr(provider, "AXFR_RECORDS_PER_OWNER", 3)  # the zone holds far more
    zone = dns_lab.bind
    keyed = make_provider(dns_lab, zone)
    owners = [owner_in(zone, f"{fresh_host}-{n}") for n in range(2)]
    sets = {o: rrset(o, 600, [record(o.name)]) for o in owners}
    keyed.apply(ChangeSet(zone.name, tuple(Change(o, None, s) for o, s in sets.items())))
    transfers = []
    real_transfer = provider.transfer

    def transfer(*args: Any, **kwargs: Any) -> Any:
        transfers.append(args)
        return real_transfer(*args, **kwargs)

    monkeypatch.setattr(provider, "transfer", transfer)
    reading = make_provider(dns_lab, zone)
    assert reading.read(zone.name, owners) == sets
    assert f"the AXFR of {zone.name} is over 6 records; reading by queries" in caplog.text
    assert reading.read(zone.name, owners) == sets
    assert len(transfers) == 1  # the zone is known to be too large for this read
    monkeypatch.setattr(provider, "AXFR_RECORDS_PER_OWNER", 10**9)
    assert reading.read(zone.name, owners) == sets
    assert len(transfers) == 2  # but not for a read worth a whole transfer


def test_zone_found_by_resolver_and_primary_by_soa_mname(dns_lab: DnsLab, fresh_host: str) -> None:
    """Without `server`: the zone by SOA queries through the resolver, the primary from MNAME."""
    zone = dns_lab.knot  # its MNAME ns1.knot.test. is 127.0.0.1; the port comes from `port`
    keyed = make_provider(dns_lab, zone, server=None, port=zone.primary.port)
    owner = owner_in(zone, fresh_host)
    assert keyed.zones([owner]) == {owner: zone.name}
    change = create_change(zone.name, owner)
    keyed.apply(change)
    assert keyed.read(zone.name, [owner]) == {owner: change.changes[0].after}


def test_zone_falls_back_to_the_resolver_when_the_server_does_not_serve_it(
    dns_lab: DnsLab,
) -> None:
    owner = Owner.for_service(f"mx1.{dns_lab.bind.name}", 25)
    assert make_provider(dns_lab, dns_lab.knot).zones([owner]) == {owner: dns_lab.bind.name}


def test_servers_are_the_configured_nameservers_or_the_ns_addresses(dns_lab: DnsLab) -> None:
    zone = dns_lab.bind
    listed = [server.address() for server in zone.servers]
    keyed = make_provider(dns_lab, zone, nameservers=listed)
    assert keyed.servers(zone.name) == tuple(Endpoint(s.host, s.port) for s in zone.servers)
    # ns1 and ns2 of the lab zone are both 127.0.0.1, on port 53.
    assert make_provider(dns_lab, zone).servers(zone.name) == (Endpoint("127.0.0.1"),)


def test_the_secret_appears_in_no_error_or_log(
    dns_lab: DnsLab,
    fresh_host: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    zone = dns_lab.bind
    secrets = {"RIGHT": zone.key.secret, "WRONG": wrong_secret()}
    for variable, secret in secrets.items():
        monkeypatch.setenv(variable, secret)
    primary, down = zone.primary.address(), f"127.0.0.1:{closed_port()}"
    texts, failures = [], 0
    for number, (variable, server) in enumerate(
        [("RIGHT", primary), ("WRONG", primary), ("RIGHT", down)]
    ):
        options = {"key-file": None, "key-name": zone.key.name, "secret": f"env:{variable}"}
        keyed = make_provider(dns_lab, zone, **options, server=server)
        texts += [repr(keyed), repr(keyed.config), repr(vars(keyed))]
        try:
            keyed.apply(create_change(zone.name, owner_in(zone, f"{fresh_host}-{number}")))
        except ProviderError as exc:
            failures += 1
            texts += [str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)]
    texts += [log_record.getMessage() for log_record in caplog.records]
    assert failures == 2  # BADSIG, and the closed port
    for secret in secrets.values():
        for text in texts:
            assert secret not in text
            decoded = base64.b64decode(secret)
            assert decoded.hex() not in text and decoded.decode("latin-1") not in text
