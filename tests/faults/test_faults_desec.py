"""`tlsagen publish` through the deSEC provider while the API misbehaves at one step.

The API is the deSEC emulator (tests/emulators/desec.py, a real HTTP server on loopback); it
answers the requests of one step with an error, garbage, a dropped or hung connection, or acts on
the bulk PATCH and then loses the answer, or lets another writer in around it. Every case starts
from two owners holding the old RRset, plans to add the next key's record to both (one bulk
request), and checks the exit code, its one-line message, that both owners hold the old or the
new RRset (never one of each), that a bystander RRset survives, that the token never shows, and
that a re-run without the fault converges. deSEC has no conditional write: a change another
writer makes just before the PATCH is overwritten (the rows say so; docs/providers/desec.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulators.desec import DesecEmulator
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
from tests.emulators.fixtures import TOKEN_ENV, desec_api
from tests.faults.common import CERT, Faults, held_state, record_of
from tests.helpers import needs_provider

__all__ = ["desec_api"]
pytestmark = needs_provider("desec")  # the CLI publishes through it
PROVIDER = "desec (emulator)"
DOMAIN = "example.com"
SUBNAMES = ["_25._tcp.mx1", "_25._tcp.mx2"]
KEEP = "_25._tcp.keep"
STEPS = {
    DISCOVER: Step("GET", r"/domains/$"),
    READ: Step("GET", r"/rrsets/$"),
    APPLY_READ: Step("GET", r"/rrsets/$", skip=1),
    APPLY: Step("PATCH", r"/rrsets/$"),
    READ_BACK: Step("GET", r"/rrsets/$", skip=2),
}
CASES = cases(
    {
        DISCOVER: {"HTTP 401"},
        READ: {"HTTP 429 (Retry-After: 1)", "HTTP 502 with an HTML page"},
        APPLY_READ: {"HTTP 500"},
        APPLY: {"no answer in time", "HTTP 404", "HTTP 503"},
        READ_BACK: {"connection dropped"},
    }
)


class Site:
    def __init__(self, emulator: DesecEmulator, directory: Path) -> None:
        self.emulator = emulator
        emulator.add_domain(DOMAIN)
        for subname in [*SUBNAMES, KEEP]:
            emulator.put(DOMAIN, subname, 3600, [record_of(CERT)])
        url = f"{emulator.url}/api/v1"
        self.config = write_config(directory, "desec", url, 3600, TOKEN_ENV)

    def found(self) -> list[frozenset[str]]:
        return [frozenset(self.emulator.held(DOMAIN, subname)) for subname in SUBNAMES]

    def held(self) -> str:
        return held_state(self.found())

    def bystanders_intact(self) -> bool:
        return self.emulator.held(DOMAIN, KEEP) == {record_of(CERT)}


@pytest.fixture
def site(desec_api: DesecEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # Retry-After and backoff
    return Site(desec_api, tmp_path)


@pytest.mark.parametrize(("step", "fault", "code", "held"), CASES)
def test_publish_through_a_faulty_api(
    step: str,
    fault: str,
    code: int,
    held: str,
    site: Site,
    desec_api: DesecEmulator,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    line = publish_through(
        PROVIDER, site, desec_api, (step, STEPS[step]), fault, code, held, capsys, faults
    )
    assert line is None or step != READ_BACK or "reading it back failed" in line


RACES = {
    "another writer adds a record at mx1 just before the bulk write": Race(
        RACE,
        False,
        0,
        "changed, over the other writer's change",
        [NEW_SET, NEW_SET],
        "the other writer's record (no conditional write: see docs/providers/desec.md)",
    ),
    "another writer adds a record at mx1 right after the bulk write": Race(
        RACE, True, 5, "changed, with the other writer's record", [NEW_SET | {INTRUDER}, NEW_SET]
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
def test_another_writer_around_the_bulk_write(
    fault: str,
    site: Site,
    desec_api: DesecEmulator,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    def other_writer() -> None:
        records = desec_api.held(DOMAIN, SUBNAMES[0]) | {INTRUDER}
        desec_api.put(DOMAIN, SUBNAMES[0], 3600, sorted(records))

    race = RACES[fault]
    where = STEPS[APPLY_READ if race.step == APPLY_READ else APPLY]
    race_through(PROVIDER, site, desec_api, fault, race, where, other_writer, capsys, faults)
