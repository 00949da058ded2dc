"""The Cloudflare provider against the emulator: zones, pages, upper-case hex, records that are
not TLSA data, errors (403, 404, 429 with Retry-After, 5xx), lost answers and another writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.fixtures import TOKEN_ENV
from tlsagen.core.records import Change, ChangeSet, Malformed, Owner, rrset
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen.testing import record
from tlsagen_cloudflare.provider import Record, batch, parse, split, tlsa_data

MX1 = Owner("_25._tcp.mx1.example.com.")
MX2 = Owner("_25._tcp.mx2.example.com.")
BATCH = r"/dns_records/batch$"
LIST = r"/dns_records$"


@pytest.fixture
def zone(cloudflare_api: CloudflareEmulator) -> str:
    return cloudflare_api.add_zone("example.com")


def replace_mx1(provider: Any) -> tuple[Change, ...]:
    old = provider.read("example.com.", [MX1]).get(MX1)
    new = rrset(MX1, 300, [record("a"), record("b")])
    provider.apply(ChangeSet("example.com.", (Change(MX1, old, new),)))
    return (Change(MX1, old, new),)


def test_longest_zone_wins_and_zones_are_listed_once(cloudflare_api: Any, cloudflare: Any) -> None:
    cloudflare_api.add_zone("example.com")
    cloudflare_api.add_zone("sub.example.com")
    provider = cloudflare()
    deep, shallow = Owner("_25._tcp.mx.sub.example.com."), Owner("_25._tcp.mx.example.com.")
    assert provider.zones([deep, shallow]) == {deep: "sub.example.com.", shallow: "example.com."}
    provider.zones([Owner("_443._tcp.www.example.com.")])
    assert sum(path.startswith("/client/v4/zones?") for _, path in cloudflare_api.requests) == 1


def test_no_zone_for_the_owner_says_so(cloudflare_api: Any, cloudflare: Any) -> None:
    cloudflare_api.add_zone("example.org")
    with pytest.raises(
        ProviderError, match=r"no Cloudflare zone .* holds _25._tcp.mx1.example.com"
    ):
        cloudflare().zones([MX1])


def test_zones_across_pages(cloudflare_api: Any, cloudflare: Any) -> None:
    for number in range(120):
        cloudflare_api.add_zone(f"zone{number:03}.test")
    cloudflare_api.add_zone("example.com")
    assert cloudflare().zones([MX1]) == {MX1: "example.com."}
    pages = [path for _, path in cloudflare_api.requests if "page=" in path]
    assert len(pages) == 3 and "page=3" in pages[-1]


def test_records_across_pages(cloudflare_api: Any, zone: str, cloudflare: Any) -> None:
    cloudflare_api.max_per_page = 2
    owners = [Owner(f"_25._tcp.mx{n}.example.com.") for n in range(5)]
    for owner in owners:
        cloudflare_api.add(zone, owner.name.rstrip("."), tlsa_data(record(owner.name)), ttl=600)
    found = cloudflare().read("example.com.", owners)
    assert found == {o: rrset(o, 600, [record(o.name)]) for o in owners}
    assert sum("dns_records?" in path for _, path in cloudflare_api.requests) == 3


def test_zone_id_pins_one_zone_and_a_wrong_one_is_404(cloudflare_api: Any, cloudflare: Any) -> None:
    zone_id = cloudflare_api.add_zone("example.com")
    assert cloudflare(zone_id=zone_id).zones([MX1]) == {MX1: "example.com."}
    with pytest.raises(ProviderError, match="HTTP 404"):
        cloudflare(zone_id="0" * 32).zones([MX1])


def test_upper_case_hex_reads_as_the_same_record(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    cloudflare_api.add(zone, "_25._tcp.mx1.example.com", tlsa_data(record("a")))
    cloudflare_api.requests.clear()
    provider = cloudflare()
    assert provider.read("example.com.", [MX1]) == {MX1: rrset(MX1, 300, [record("a")])}
    shown = cloudflare_api._shown(cloudflare_api.at("_25._tcp.mx1.example.com")[0])
    assert shown["data"]["certificate"] == record("a").data.hex().upper()


def test_a_record_that_is_not_tlsa_data_is_read_and_replaced(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    good = cloudflare_api.add(zone, "_25._tcp.mx1.example.com", tlsa_data(record("a")))
    bad = dict(cloudflare_api.records[good], id="f" * 32, data={"usage": 3, "certificate": "xyz"})
    cloudflare_api.records[bad["id"]] = bad
    provider = cloudflare()
    held = provider.read("example.com.", [MX1])[MX1]
    assert held.records == {record("a")}
    assert [item.reason for item in held.malformed] == [
        "its usage, selector or matching type is not a number 0-255"
    ]
    assert isinstance(next(iter(held.malformed)), Malformed)
    new = rrset(MX1, 300, [record("a")])
    provider.apply(ChangeSet("example.com.", (Change(MX1, held, new),)))
    assert provider.read("example.com.", [MX1]) == {MX1: new}
    assert good in cloudflare_api.records  # the good record was kept, not re-created


def test_a_refused_token_names_the_scopes_never_the_token(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    cloudflare_api.token = "another-token"
    with pytest.raises(ProviderError) as caught:
        cloudflare().zones([MX1])
    assert "Zone:DNS:Edit" in str(caught.value) and "HTTP 403" in str(caught.value)
    assert "emulator-token" not in str(caught.value)


def test_429_waits_for_retry_after(
    cloudflare_api: Any, zone: str, cloudflare: Any, monkeypatch: Any
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    cloudflare_api.inject(method="GET", path=LIST, status=429, retry_after="7", times=2)
    assert cloudflare().read("example.com.", [MX1]) == {}
    assert slept == [7.0, 7.0]


def test_429_beyond_a_minute_is_reported(cloudflare_api: Any, zone: str, cloudflare: Any) -> None:
    cloudflare_api.inject(method="GET", path=LIST, status=429, retry_after="300", times=None)
    with pytest.raises(ProviderError, match=r"HTTP 429.*run again in 300 s"):
        cloudflare().read("example.com.", [MX1])


def test_5xx_on_a_read_is_retried(cloudflare_api: Any, zone: str, cloudflare: Any) -> None:
    cloudflare_api.inject(method="GET", path=LIST, status=503, times=2)
    assert cloudflare().read("example.com.", [MX1]) == {}
    cloudflare_api.inject(method="GET", path=LIST, status=500, times=None)
    with pytest.raises(ProviderError, match="HTTP 500"):
        cloudflare().read("example.com.", [MX1])


@pytest.mark.parametrize("action", ["drop", "status"])
def test_batch_answer_lost_after_it_was_applied_is_read_back(
    cloudflare_api: Any, zone: str, cloudflare: Any, action: str
) -> None:
    cloudflare_api.inject(method="POST", path=BATCH, action=action, applied=True)
    (change,) = replace_mx1(cloudflare())
    assert cloudflare_api.held("_25._tcp.mx1.example.com") == set(change.after.texts())
    assert sum(method == "POST" for method, _ in cloudflare_api.requests) == 1  # never resent


def test_batch_failing_before_it_was_applied_applies_nothing(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    cloudflare_api.inject(method="POST", path=BATCH, status=502)
    with pytest.raises(ProviderError, match="nothing was applied"):
        replace_mx1(cloudflare())
    assert cloudflare_api.held("_25._tcp.mx1.example.com") == set()
    assert sum(method == "POST" for method, _ in cloudflare_api.requests) == 1


def test_another_writer_deleting_between_read_and_write_fails_the_whole_batch(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    first = cloudflare_api.add(zone, "_25._tcp.mx1.example.com", tlsa_data(record("old")))
    cloudflare_api.add(zone, "_25._tcp.mx2.example.com", tlsa_data(record("old")))
    provider = cloudflare()
    held = provider.read("example.com.", [MX1, MX2])
    changes = tuple(Change(o, held[o], rrset(o, 300, [record("new")])) for o in (MX1, MX2))
    cloudflare_api.inject(
        method="POST", path=BATCH, action="race", before=lambda: cloudflare_api.remove(first)
    )
    with pytest.raises(ConflictError, match="since it was read"):
        provider.apply(ChangeSet("example.com.", changes))
    assert cloudflare_api.held("_25._tcp.mx1.example.com") == set()
    assert cloudflare_api.held("_25._tcp.mx2.example.com") == {record("old").to_text()}


@pytest.mark.parametrize("after", [False, True], ids=["just-before", "right-after"])
def test_another_writer_adding_around_the_write_is_reported_after_it(
    cloudflare_api: Any, zone: str, cloudflare: Any, after: bool
) -> None:
    def intrude() -> None:
        cloudflare_api.add(zone, "_25._tcp.mx1.example.com", tlsa_data(record("intruder")))

    cloudflare_api.inject(method="POST", path=BATCH, action="race", applied=after, before=intrude)
    with pytest.raises(ConflictError, match="right after tlsagen wrote it"):
        replace_mx1(cloudflare())
    assert record("intruder").to_text() in cloudflare_api.held("_25._tcp.mx1.example.com")


def test_batch_keeps_records_patches_ttl_deletes_and_posts() -> None:
    keep, drop = Record("id1", record("a"), 300), Record("id2", record("b"), 300)
    junk = Record("id3", Malformed("3 1 1 zz", "not hex"), 300)
    after = rrset(MX1, 600, [record("a"), record("c")])
    body = batch([Change(MX1, None, after)], {MX1: [keep, drop, junk]})
    assert body["deletes"] == [{"id": "id2"}, {"id": "id3"}]
    assert body["patches"] == [
        {"id": "id1", "name": "_25._tcp.mx1.example.com", "type": "TLSA", "ttl": 600}
    ]
    assert [post["data"]["certificate"] for post in body["posts"]] == [record("c").data.hex()]


def test_servers_are_the_zones_name_servers_unless_configured(
    cloudflare_api: Any, zone: str, cloudflare: Any
) -> None:
    assert Endpoint("127.0.0.1", 53) in cloudflare(nameservers=None).servers("example.com.")
    assert cloudflare(nameservers=["192.0.2.1:5353"]).servers("example.com.") == (
        Endpoint("192.0.2.1", 5353),
    )
    assert cloudflare().servers("example.com.") == ()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("cf-secret-Zq4T", "a secret must be given by reference"),
        (None, "token is required"),
        ("env:TLSAGEN_TEST_SPACED", "holds spaces"),
    ],
)
def test_token_must_be_a_reference_to_a_plain_token(
    token: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLSAGEN_TEST_SPACED", "cf secret Zq4T")
    table = {"token": token} if token else {}
    with pytest.raises(InputError, match=message) as caught:
        parse(ProviderSettings("cf", table, "tlsagen.toml [providers.cf]", Path(".")))
    assert "Zq4T" not in str(caught.value)
    assert TOKEN_ENV


def test_split_keeps_owners_whole_within_the_limit() -> None:
    owners = [Owner(f"_25._tcp.mx{n}.example.com.") for n in range(3)]
    changes = [
        Change(o, None, rrset(o, 300, [record(o.name), record(o.name + "x")])) for o in owners
    ]
    assert split(changes, 4) == [changes[:2], changes[2:]]
    with pytest.raises(ProviderError, match="more than one Cloudflare batch may carry"):
        split(changes, 1)


def test_batches_beyond_the_limit_are_each_whole_and_a_failure_says_so(
    cloudflare_api: Any, zone: str, cloudflare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tlsagen_cloudflare.provider.MAX_OPERATIONS", 2)
    owners = [Owner(f"_25._tcp.mx{n}.example.com.") for n in range(3)]
    changes = tuple(Change(o, None, rrset(o, 300, [record(o.name), record("n")])) for o in owners)
    cloudflare_api.inject(method="POST", path=BATCH, status=400, skip=1)
    with pytest.raises(ProviderError, match=r"requests 1-1 of 3 were applied, each whole"):
        cloudflare().apply(ChangeSet("example.com.", changes))
    held = [cloudflare_api.held(o.name.rstrip(".")) for o in owners]
    assert held == [set(changes[0].after.texts()), set(), set()]
    cloudflare().apply(ChangeSet("example.com.", changes[1:]))
    assert sum(method == "POST" for method, _ in cloudflare_api.requests) == 4
