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
from typing import Any

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.faults import (
    APPLY,
    APPLY_READ,
    DISCOVER,
    RACE,
    READ,
    READ_BACK,
    Step,
    cases,
    publish_through,
)
from tests.emulators.fixtures import TOKEN_ENV, cloudflare_api
from tests.faults.common import (
    CERT,
    NEW,
    NEXT_KEY,
    Faults,
    case_id,
    held_state,
    record_of,
    run_cli,
)
from tlsagen.tlsa import TLSAData

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


def data_of(text: str) -> dict[str, Any]:
    record = TLSAData.from_text(text)
    return {
        "usage": record.usage,
        "selector": record.selector,
        "matching_type": record.matching_type,
        "certificate": record.data.hex(),
    }


class Site:
    def __init__(self, emulator: CloudflareEmulator, directory: Path) -> None:
        self.emulator = emulator
        self.zone_id = emulator.add_zone("example.com")
        for name in [*NAMES, KEEP]:
            emulator.add(self.zone_id, name, data_of(record_of(CERT)), ttl=60)
        self.config = directory / "tlsagen.toml"
        self.config.write_text(
            f"[defaults]\nttl = 60\nstate = '{directory / 'state.json'}'\n\n"
            f"[providers.cf]\ntype = 'cloudflare'\ntoken = 'env:{TOKEN_ENV}'\n"
            f"endpoint-url = '{emulator.url}/client/v4'\ntimeout = 0.5\nnameservers = []\n\n"
            "[[services]]\nname = 'mail'\nhosts = ['mx1.example.com', 'mx2.example.com']\n"
            f"cert = '{CERT}'\nnext-key = '{NEXT_KEY}'\n"
        )

    def found(self) -> list[frozenset[str]]:
        return [frozenset(self.emulator.held(name)) for name in NAMES]

    def held(self, states: dict[str, frozenset[str]] | None = None) -> str:
        return held_state(self.found(), states)

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


INTRUDER = record_of(NEXT_KEY).replace(" 1 1 ", " 1 2 ") + record_of(CERT).split()[-1]
OLD_SET, NEW_SET = frozenset({record_of(CERT)}), frozenset({record_of(CERT), record_of(NEXT_KEY)})
# fault -> (step, the other writer's change, after the request?, exit code, outcome, each owner)
RACES = {
    "another writer deletes mx1's record just before the batch": (
        RACE,
        "delete",
        False,
        5,
        "changed, less the record the other writer deleted",
        [frozenset({record_of(NEXT_KEY)}), NEW_SET],
    ),
    "another writer adds a record at mx1 just before the batch": (
        RACE,
        "add",
        False,
        5,
        "changed, with the other writer's record",
        [NEW_SET | {INTRUDER}, NEW_SET],
    ),
    "another writer adds a record at mx1 right after the batch": (
        RACE,
        "add",
        True,
        5,
        "changed, with the other writer's record",
        [NEW_SET | {INTRUDER}, NEW_SET],
    ),
    "another writer adds a record at mx1 after the plan": (
        APPLY_READ,
        "add",
        False,
        5,
        "unchanged, with the other writer's record",
        [OLD_SET | {INTRUDER}, OLD_SET],
    ),
}


@pytest.mark.parametrize("fault", list(RACES), ids=[case_id(RACES[f][0], f) for f in RACES])
def test_another_writer_around_the_batch(
    fault: str,
    site: Site,
    cloudflare_api: CloudflareEmulator,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    step, kind, after, code, held, found = RACES[fault]
    mx1 = NAMES[0]
    victim = cloudflare_api.at(mx1)[0]["id"]

    def other_writer() -> None:
        if kind == "delete":
            cloudflare_api.remove(victim)
        else:
            cloudflare_api.add(site.zone_id, mx1, data_of(INTRUDER), ttl=60)

    where = STEPS[APPLY_READ if step == APPLY_READ else APPLY]
    cloudflare_api.inject(
        method=where.method,
        path=where.path,
        skip=where.skip,
        action="race",
        applied=after,
        before=other_writer,
    )
    run = run_cli(capsys, "publish", "--config", site.config)
    faults.expect(PROVIDER, step, fault, run, code, held)
    assert site.found() == found
    assert site.bystanders_intact()
    rerun = run_cli(capsys, "publish", "--config", site.config)
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW
