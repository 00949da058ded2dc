"""`tlsagen publish` through the Cloudflare provider while the API misbehaves at one step.

The API is the Cloudflare emulator (tests/emulators/cloudflare.py, a real HTTP server on
loopback); it answers the requests of one step with an error, garbage, a dropped or hung
connection, or acts on the batch and then loses the answer, or lets another writer in around the
batch. Every case starts from two owners holding the old record, plans to add the next key's
record to both (one batch), and checks the exit code, its one-line message, that both owners hold
the old or the new records (never one of each), that a bystander record survives, that the token
never shows, and that a re-run without the fault converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.faults import (
    APPLY,
    APPLY_READ,
    DISCOVER,
    INTRUDER,
    NEW_SET,
    OLD_SET,
    RACE,
    READ,
    READ_BACK,
    Race,
    Step,
    cases,
    publish_through,
    race_ids,
    race_through,
    write_config,
)
from tests.emulators.fixtures import TOKEN_ENV, cloudflare_api
from tests.faults.common import (
    CERT,
    NEXT_KEY,
    Faults,
    held_state,
    record_of,
)
from tlsagen.core.tlsa import TLSAData

pytest.importorskip("tlsagen_cloudflare")  # a fault test of the CLI with this provider
from tlsagen_cloudflare.provider import tlsa_data

__all__ = ["cloudflare_api"]
PROVIDER = "cloudflare (emulator)"
NAMES = ["_25._tcp.mx1.example.com", "_25._tcp.mx2.example.com"]
KEEP = "_25._tcp.keep.example.com"
STEPS = {
    DISCOVER: Step("GET", r"/zones$"),
    READ: Step("GET", r"/dns_records$"),
    APPLY_READ: Step("GET", r"/dns_records$", skip=1),
    APPLY: Step("POST", r"/dns_records/batch$"),
    READ_BACK: Step("GET", r"/dns_records$", skip=2),
}
CASES = cases(
    {
        DISCOVER: {"connection dropped"},
        READ: {"HTTP 429 (Retry-After: 1)", "garbage answer (HTML, 200)"},
        APPLY_READ: {"no answer in time"},
        APPLY: {"HTTP 403", "HTTP 500", "connection dropped"},
        READ_BACK: {"HTTP 503"},
    }
)


class Site:
    def __init__(self, emulator: CloudflareEmulator, directory: Path) -> None:
        self.emulator = emulator
        self.zone_id = emulator.add_zone("example.com")
        for name in [*NAMES, KEEP]:
            emulator.add(self.zone_id, name, tlsa_data(TLSAData.from_text(record_of(CERT))), ttl=60)
        url = f"{emulator.url}/client/v4"
        self.config = write_config(directory, "cloudflare", url, 60, TOKEN_ENV)

    def found(self) -> list[frozenset[str]]:
        return [frozenset(self.emulator.held(name)) for name in NAMES]

    def held(self) -> str:
        return held_state(self.found())

    def bystanders_intact(self) -> bool:
        return self.emulator.held(KEEP) == {record_of(CERT)}


@pytest.fixture
def site(
    cloudflare_api: CloudflareEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Site:
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # Retry-After and backoff
    return Site(cloudflare_api, tmp_path)


@pytest.mark.parametrize(("step", "fault", "code", "held"), CASES)
def test_publish_through_a_faulty_api(
    step: str,
    fault: str,
    code: int,
    held: str,
    site: Site,
    cloudflare_api: CloudflareEmulator,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    line = publish_through(
        PROVIDER, site, cloudflare_api, (step, STEPS[step]), fault, code, held, capsys, faults
    )
    assert line is None or step != READ_BACK or "reading it back failed" in line
    assert (
        line is None or step != APPLY or fault.startswith("HTTP 4") or "nothing was applied" in line
    )


WITH_INTRUDER = "changed, with the other writer's record"
RACES = {
    "another writer deletes mx1's record just before the batch": Race(
        RACE,
        False,
        5,
        "changed, less the record the other writer deleted",
        [frozenset({record_of(NEXT_KEY)}), NEW_SET],
    ),
    "another writer adds a record at mx1 just before the batch": Race(
        RACE, False, 5, WITH_INTRUDER, [NEW_SET | {INTRUDER}, NEW_SET]
    ),
    "another writer adds a record at mx1 right after the batch": Race(
        RACE, True, 5, WITH_INTRUDER, [NEW_SET | {INTRUDER}, NEW_SET]
    ),
    "another writer adds a record at mx1 after the plan": Race(
        APPLY_READ,
        False,
        5,
        "unchanged, with the other writer's record",
        [OLD_SET | {INTRUDER}, OLD_SET],
    ),
}


@pytest.mark.parametrize("fault", list(RACES), ids=race_ids(RACES))
def test_another_writer_around_the_batch(
    fault: str,
    site: Site,
    cloudflare_api: CloudflareEmulator,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    victim = cloudflare_api.at(NAMES[0])[0]["id"]

    def other_writer() -> None:
        if "deletes" in fault:
            cloudflare_api.remove(victim)
        else:
            cloudflare_api.add(
                site.zone_id, NAMES[0], tlsa_data(TLSAData.from_text(INTRUDER)), ttl=60
            )

    race = RACES[fault]
    where = STEPS[APPLY_READ if race.step == APPLY_READ else APPLY]
    race_through(PROVIDER, site, cloudflare_api, fault, race, where, other_writer, capsys, faults)
