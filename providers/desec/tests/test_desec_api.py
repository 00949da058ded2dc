"""The deSEC provider against the emulator: owns_qname, cursor pages, the minimum TTL, records
that are not TLSA data, errors (401, 404, 429 with Retry-After, 5xx), lost answers and another
writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.emulators.desec import DesecEmulator
from tlsagen.core.records import Change, ChangeSet, Malformed, Owner, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.provider import Endpoint, ProviderSettings
from tlsagen.testing import record
from tlsagen_desec.provider import parse, stored

MX1 = Owner("_25._tcp.mx1.example.com.")
MX2 = Owner("_25._tcp.mx2.example.com.")
BULK = r"/rrsets/$"
ZONE = "example.com."


@pytest.fixture
def domain(desec_api: DesecEmulator) -> str:
    desec_api.add_domain("example.com")
    return "example.com"


def publish(provider: Any, *owners: Owner, ttl: int = 3600, seed: str = "new") -> None:
    held = provider.read(ZONE, owners)
    changes = tuple(Change(o, held.get(o), rrset(o, ttl, [record(seed)])) for o in owners)
    provider.apply(ChangeSet(ZONE, changes))


def test_owns_qname_finds_the_most_specific_domain_once_per_host(
    desec_api: Any, desec: Any
) -> None:
    desec_api.add_domain("example.com")
    desec_api.add_domain("sub.example.com")
    provider = desec()
    deep = Owner("_25._tcp.mx.sub.example.com.")
    also = Owner("_465._tcp.mx.sub.example.com.")
    assert provider.zones([deep, also, MX1]) == {
        deep: "sub.example.com.",
        also: "sub.example.com.",
        MX1: ZONE,
    }
    lookups = [path for _, path in desec_api.requests if "owns_qname" in path]
    assert lookups == [
        "/api/v1/domains/?owns_qname=mx.sub.example.com",
        "/api/v1/domains/?owns_qname=mx1.example.com",
    ]


def test_no_domain_says_so(desec_api: Any, desec: Any) -> None:
    desec_api.add_domain("example.org")
    with pytest.raises(
        ProviderError, match=r"no deSEC domain of this account holds mx1\.example\.com"
    ):
        desec().zones([MX1])


def test_rrsets_across_cursor_pages(desec_api: Any, domain: str, desec: Any) -> None:
    desec_api.page_size = 2
    owners = [Owner(f"_25._tcp.mx{n}.example.com.") for n in range(5)]
    for owner in owners:
        desec_api.put(
            domain, owner.name.removesuffix(".example.com."), 3600, [record(owner.name).to_text()]
        )
    assert desec().read(ZONE, owners) == {o: rrset(o, 3600, [record(o.name)]) for o in owners}
    pages = [path for _, path in desec_api.requests if "/rrsets/" in path]
    assert len(pages) == 3 and pages[-1].endswith("cursor=4")


def test_a_ttl_below_the_minimum_is_a_configuration_error_before_any_request(
    desec_api: Any, domain: str, desec: Any
) -> None:
    change = Change(MX1, None, rrset(MX1, 300, [record("a")]))
    with pytest.raises(InputError) as caught:
        desec().apply(ChangeSet(ZONE, (change,)))
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith("tlsagen.toml ttl: 300 s (for _25._tcp.mx1.example.com.)")
    assert "[defaults]" in str(caught.value) and "3600" in str(caught.value)
    assert desec_api.requests == []


def test_minimum_ttl_setting_lowers_the_check_and_deSEC_still_judges(
    desec_api: Any, domain: str, desec: Any
) -> None:
    with pytest.raises(ProviderError, match="greater than or equal to 3600"):
        publish(desec(minimum_ttl=60), MX1, ttl=300)
    assert desec_api.held(domain, "_25._tcp.mx1") == set()


def test_a_record_that_is_not_tlsa_data_is_read_and_replaced(
    desec_api: Any, domain: str, desec: Any
) -> None:
    desec_api.put(domain, "_25._tcp.mx1", 3600, [record("a").to_text(), "3 1 1 not-hex"])
    provider = desec()
    held = provider.read(ZONE, [MX1])[MX1]
    assert held.records == {record("a")}
    assert held.malformed == {Malformed("3 1 1 not-hex", "its data is not hexadecimal")}
    publish(provider, MX1, seed="a")
    assert desec_api.held(domain, "_25._tcp.mx1") == {record("a").to_text()}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3 1", "it does not start with usage, selector and matching type"),
        ("dane-ee 1 1 ab", "it does not start with usage, selector and matching type"),
        ("3 1 256 ab", "its usage, selector or matching type is over 255"),
    ],
)
def test_stored_text_that_is_not_tlsa_data(text: str, reason: str) -> None:
    assert stored(text) == Malformed(text, reason)


def test_a_short_digest_is_still_tlsa_data() -> None:
    assert stored("3 1 1 abcd") == TLSAData(3, 1, 1, b"\xab\xcd")


def test_a_refused_token_says_what_it_needs_never_the_token(
    desec_api: Any, domain: str, desec: Any
) -> None:
    desec_api.token = "another-token"
    with pytest.raises(ProviderError) as caught:
        desec().zones([MX1])
    assert "HTTP 401" in str(caught.value) and "write TLSA RRsets" in str(caught.value)
    assert "emulator-token" not in str(caught.value)


def test_a_domain_gone_between_lookup_and_read_is_404(
    desec_api: Any, domain: str, desec: Any
) -> None:
    provider = desec()
    provider.zones([MX1])
    del desec_api.domains[domain]
    with pytest.raises(ProviderError, match="HTTP 404"):
        provider.read(ZONE, [MX1])


def test_429_waits_for_retry_after(
    desec_api: Any, domain: str, desec: Any, monkeypatch: Any
) -> None:
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    desec_api.inject(method="PATCH", path=BULK, status=429, retry_after="3")
    publish(desec(), MX1)
    assert slept == [3.0]
    assert desec_api.held(domain, "_25._tcp.mx1") == {record("new").to_text()}


def test_429_beyond_a_minute_is_reported(desec_api: Any, domain: str, desec: Any) -> None:
    desec_api.inject(method="GET", path=BULK, status=429, retry_after="900", times=None)
    with pytest.raises(ProviderError, match=r"HTTP 429.*run again in 900 s"):
        desec().read(ZONE, [MX1])


def test_5xx_on_a_read_is_retried(desec_api: Any, domain: str, desec: Any) -> None:
    desec_api.inject(method="GET", path=BULK, status=502, times=2)
    assert desec().read(ZONE, [MX1]) == {}


@pytest.mark.parametrize("action", ["drop", "status"])
def test_bulk_answer_lost_after_it_was_applied_is_read_back(
    desec_api: Any, domain: str, desec: Any, action: str
) -> None:
    desec_api.inject(method="PATCH", path=BULK, action=action, applied=True)
    publish(desec(), MX1, MX2)
    assert desec_api.held(domain, "_25._tcp.mx2") == {record("new").to_text()}
    assert sum(method == "PATCH" for method, _ in desec_api.requests) == 1  # never resent


def test_bulk_failing_before_it_was_applied_applies_nothing(
    desec_api: Any, domain: str, desec: Any
) -> None:
    desec_api.inject(method="PATCH", path=BULK, action="drop")
    with pytest.raises(ProviderError, match="nothing was applied"):
        publish(desec(), MX1, MX2)
    assert desec_api.held(domain, "_25._tcp.mx1") == set()


def test_another_writer_just_before_the_write_is_overwritten(
    desec_api: Any, domain: str, desec: Any
) -> None:
    """The narrower promise: deSEC has no conditional write, so a change landing between the
    read-before-write and the PATCH (one round trip) is replaced (docs/providers/desec.md)."""

    def intrude() -> None:
        desec_api.put(domain, "_25._tcp.mx1", 3600, [record("intruder").to_text()])

    desec_api.inject(method="PATCH", path=BULK, action="race", before=intrude)
    publish(desec(), MX1)
    assert desec_api.held(domain, "_25._tcp.mx1") == {record("new").to_text()}


def test_another_writer_right_after_the_write_is_reported(
    desec_api: Any, domain: str, desec: Any
) -> None:
    def intrude() -> None:
        desec_api.put(domain, "_25._tcp.mx1", 3600, [record("intruder").to_text()])

    desec_api.inject(method="PATCH", path=BULK, action="race", applied=True, before=intrude)
    with pytest.raises(ConflictError, match="right after tlsagen wrote it"):
        publish(desec(), MX1, MX2)
    assert desec_api.held(domain, "_25._tcp.mx1") == {record("intruder").to_text()}


def test_a_change_since_the_plan_is_refused_before_the_write(
    desec_api: Any, domain: str, desec: Any
) -> None:
    provider = desec()
    held = provider.read(ZONE, [MX1])
    desec_api.put(domain, "_25._tcp.mx1", 3600, [record("intruder").to_text()])
    change = Change(MX1, held.get(MX1), rrset(MX1, 3600, [record("new")]))
    with pytest.raises(ConflictError, match="since it was read"):
        provider.apply(ChangeSet(ZONE, (change,)))
    assert desec_api.written() == 0


def test_servers_are_desecs_unless_configured(desec: Any, domain: str, monkeypatch: Any) -> None:
    asked: list[str] = []

    def getaddrinfo(name: str, port: int, **kwargs: Any) -> list[Any]:
        asked.append(name)
        return [(2, 2, 17, "", ("192.0.2.53", port))]

    monkeypatch.setattr("socket.getaddrinfo", getaddrinfo)
    assert desec(nameservers=None).servers(ZONE) == (Endpoint("192.0.2.53", 53),)
    assert asked == ["ns1.desec.io", "ns2.desec.org"]
    assert desec(nameservers=["192.0.2.1"]).servers(ZONE) == (Endpoint("192.0.2.1", 53),)
    assert desec().servers(ZONE) == ()


def test_settings_refuse_unknown_keys_and_a_bare_token() -> None:
    where = "tlsagen.toml [providers.desec]"
    with pytest.raises(InputError, match="did you mean 'minimum-ttl'"):
        parse(ProviderSettings("desec", {"token": "env:X", "minimum_ttl": 60}, where, Path(".")))
    with pytest.raises(InputError, match="by reference"):
        parse(ProviderSettings("desec", {"token": "s3cret-token"}, where, Path(".")))
