"""The PowerDNS provider against a real pdns_server: what it reads, its errors, and its
compare-and-swap promise (read before, PATCH, read back)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import tlsagen_powerdns.api
from tests.testbed.powerdns import PowerDns, admin, delete_raw, insert_raw, write_tlsa
from tlsagen.core.records import Change, ChangeSet, Malformed, Owner, RRset, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.provider import Endpoint
from tlsagen.testing import record
from tlsagen_powerdns.api import Api
from tlsagen_powerdns.provider import DISABLED, NOT_TLSA, PowerDnsProvider, _rrset

Make = Callable[..., PowerDnsProvider]


@pytest.fixture
def owner(powerdns: PowerDns, fresh_host: str) -> Owner:
    return Owner.for_service(f"{fresh_host}.{powerdns.zone}", 25)


def apply(provider: PowerDnsProvider, zone: str, *changes: Change) -> None:
    provider.apply(ChangeSet(zone, changes))


def test_a_record_of_the_wrong_digest_length_is_tlsa_data(
    powerdns: PowerDns, make: Make, owner: Owner
) -> None:
    good = record("a")
    insert_raw(powerdns, owner.name, good.to_text())
    insert_raw(powerdns, owner.name, "3 1 1 ABCD")  # parses: TLSA data, its digest too short
    provider = make()
    held = provider.read(powerdns.zone, [owner])[owner]
    assert held == rrset(owner, 60, [good, TLSAData(3, 1, 1, bytes.fromhex("abcd"))])
    apply(provider, powerdns.zone, Change(owner, held, rrset(owner, 60, [good])))
    assert provider.read(powerdns.zone, [owner]) == {owner: rrset(owner, 60, [good])}


def test_a_record_powerdns_cannot_parse_fails_the_read_with_a_hint(
    powerdns: PowerDns, make: Make, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PowerDNS 4.7 answers HTTP 500 for a zone holding such a record: exit 4, and what to do."""
    monkeypatch.setattr(tlsagen_powerdns.api, "BACKOFF", 0.01)
    insert_raw(powerdns, owner.name, "not tlsa at all")
    try:
        with pytest.raises(
            ProviderError, match=r"HTTP 500 .*pdnsutil check-zone pdns\.test"
        ) as got:
            make().read(powerdns.zone, [owner])
        assert got.value.exit_code == 4
    finally:
        delete_raw(powerdns, owner.name)


def test_a_disabled_record_is_shown_as_not_served_and_replaced(
    powerdns: PowerDns, make: Make, owner: Owner
) -> None:
    good, off = record("a"), record("off")
    records = [{"content": good.to_text(), "disabled": False}]
    records.append({"content": off.to_text(), "disabled": True})
    rrsets = [{"name": owner.name, "type": "TLSA", "changetype": "REPLACE", "ttl": 60}]
    rrsets[0]["records"] = records
    admin(powerdns, "PATCH", f"/zones/{powerdns.zone}", {"rrsets": rrsets})
    provider = make()
    held = provider.read(powerdns.zone, [owner])[owner]
    assert held == RRset(
        owner, 60, frozenset({good}), frozenset({Malformed(off.to_text(), DISABLED)})
    )
    apply(provider, powerdns.zone, Change(owner, held, rrset(owner, 60, [good])))
    assert provider.read(powerdns.zone, [owner]) == {owner: rrset(owner, 60, [good])}


def test_one_read_of_the_zone_for_many_owners(
    powerdns: PowerDns, make: Make, fresh_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make()
    owners = [Owner.for_service(f"{fresh_host}-{n}.{powerdns.zone}", 25) for n in range(50)]
    apply(
        provider, powerdns.zone, *(Change(o, None, rrset(o, 60, [record(o.name)])) for o in owners)
    )
    calls: list[str] = []
    get = Api.get
    monkeypatch.setattr(Api, "get", lambda self, path: calls.append(path) or get(self, path))
    assert len(provider.read(powerdns.zone, owners)) == 50
    assert calls == [f"/zones/{powerdns.zone}"]


def test_the_longest_zone_holds_the_owner(powerdns: PowerDns, make: Make) -> None:
    child = f"sub.{powerdns.zone}"
    admin(powerdns, "POST", "/zones", {"name": child, "kind": "Native", "nameservers": []})
    inner = Owner.for_service(f"mx.{child}", 25)
    outer = Owner.for_service(f"mx.{powerdns.zone}", 25)
    assert make().zones([inner, outer]) == {inner: child, outer: powerdns.zone}


def test_no_zone_holds_the_owner(make: Make) -> None:
    with pytest.raises(ProviderError, match=r"no zone on the PowerDNS server .* holds _25\._tcp"):
        make().zones([Owner.for_service("mx.elsewhere.example", 25)])


def test_a_wrong_key_is_refused_without_showing_either_key(
    powerdns: PowerDns, make: Make, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLSAGEN_TEST_PDNS_KEY", "wrong-key-0123456789")
    with pytest.raises(ProviderError) as caught:
        make().zones([owner])
    text = str(caught.value)
    assert caught.value.exit_code == 4 and "refused the API key (HTTP 401)" in text
    assert "wrong-key" not in text and powerdns.api_key not in text


def test_a_wrong_server_id(make: Make, owner: Owner) -> None:
    with pytest.raises(InputError, match=r"has no server 'primary' .*check server-id"):
        make(server_id="primary").zones([owner])


def test_a_change_powerdns_rejects_is_quoted_and_nothing_is_applied(
    powerdns: PowerDns, make: Make, owner: Owner, fresh_host: str
) -> None:
    """A TLSA RRset next to a CNAME: PowerDNS answers 422 with its reason."""
    cname = {"name": owner.name, "type": "CNAME", "changetype": "REPLACE", "ttl": 60}
    cname["records"] = [{"content": f"target.{powerdns.zone}", "disabled": False}]
    admin(powerdns, "PATCH", f"/zones/{powerdns.zone}", {"rrsets": [cname]})
    other = Owner.for_service(f"{fresh_host}-other.{powerdns.zone}", 25)
    provider = make()
    with pytest.raises(
        ProviderError, match=r"rejected PATCH .* \(HTTP 422\): .* Conflicts with pre-existing"
    ):
        apply(
            provider,
            powerdns.zone,
            Change(other, None, rrset(other, 60, [record("o")])),
            Change(owner, None, rrset(owner, 60, [record("a")])),
        )
    assert provider.read(powerdns.zone, [owner, other]) == {}


def test_a_stale_before_sends_no_patch(
    powerdns: PowerDns, make: Make, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = make()
    write_tlsa(powerdns, owner.name, 60, [record("theirs").to_text()])
    monkeypatch.setattr(Api, "patch", lambda *args: pytest.fail("a PATCH was sent"))
    with pytest.raises(ConflictError, match="changed in PowerDNS since it was read"):
        apply(provider, powerdns.zone, Change(owner, None, rrset(owner, 60, [record("a")])))


def test_a_writer_right_after_the_patch_is_a_conflict(
    powerdns: PowerDns, make: Make, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read back sees another writer's RRset: exit 5, and DNS keeps the other writer's."""
    patch = Api.patch

    def patch_then_another_writer(self: Api, path: str, document: Any) -> None:
        patch(self, path, document)
        write_tlsa(powerdns, owner.name, 60, [record("theirs").to_text()])

    monkeypatch.setattr(Api, "patch", patch_then_another_writer)
    provider = make()
    with pytest.raises(ConflictError, match="right after this run wrote it") as caught:
        apply(provider, powerdns.zone, Change(owner, None, rrset(owner, 60, [record("a")])))
    assert caught.value.exit_code == 5
    assert provider.read(powerdns.zone, [owner]) == {owner: rrset(owner, 60, [record("theirs")])}


def test_a_writer_between_the_read_and_the_patch_is_overwritten(
    powerdns: PowerDns, make: Make, owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the promise does not cover (docs/providers/powerdns.md): the window of one request
    between the read and the PATCH. The other writer's RRset is replaced whole."""
    patch = Api.patch

    def another_writer_then_patch(self: Api, path: str, document: Any) -> None:
        write_tlsa(powerdns, owner.name, 60, [record("theirs").to_text()])
        patch(self, path, document)

    monkeypatch.setattr(Api, "patch", another_writer_then_patch)
    provider = make()
    ours = rrset(owner, 60, [record("a")])
    apply(provider, powerdns.zone, Change(owner, None, ours))
    assert provider.read(powerdns.zone, [owner]) == {owner: ours}


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: http://127.0.0.1:PORT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_silent_server_times_out_once_per_attempt(
    make: Make, owner: Owner, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tlsagen_powerdns.api, "BACKOFF", 0.01)
    provider = make(api_url=silent_server, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(ProviderError, match=r"no complete answer to GET .* within 0.3 s"):
        provider.zones([owner])
    elapsed = time.monotonic() - start
    assert 3 * 0.3 <= elapsed < 3 * 0.3 + 1.5


def test_servers_are_the_configured_ones(make: Make, powerdns: PowerDns) -> None:
    assert make().servers(powerdns.zone) == (Endpoint(powerdns.dns.host, powerdns.dns.port),)
    listed = make(nameservers=["192.0.2.1", "192.0.2.2:5300"]).servers(powerdns.zone)
    assert listed == (Endpoint("192.0.2.1"), Endpoint("192.0.2.2", 5300))


def test_text_that_is_not_tlsa_is_malformed() -> None:
    """Content PowerDNS returns but that is not `U S M HEX` (4.7 fails the read before that)."""
    owner = Owner("_25._tcp.mx.example.")
    item = {"ttl": 60, "records": [{"content": "3 1 1 zz", "disabled": False}]}
    found = _rrset(owner, item)
    assert found == RRset(owner, 60, frozenset(), frozenset({Malformed("3 1 1 zz", NOT_TLSA)}))
