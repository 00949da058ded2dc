"""The fault cases the Cloudflare and deSEC fault tests share (tests/faults/test_faults_*.py):
what the emulator does at one step of `tlsagen publish`, and the outcome each must have."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.emulators.server import Emulator
from tests.faults.common import (
    CERT,
    NEW,
    NEXT_KEY,
    OLD,
    Faults,
    case_id,
    long_run,
    record_of,
    run_cli,
)

DISCOVER = "zone discovery"
READ = "read"
APPLY_READ = "apply: read first"
APPLY = "apply"
READ_BACK = "apply: read back"
RACE = "between read and write"

# Every request of the step gets the fault (a retry too), so retries cannot hide it.
FAULTS: dict[str, dict[str, Any]] = {
    "connection dropped": {"action": "drop"},
    "no answer in time": {"action": "hang", "seconds": 1.0},
    "slow answer (0.2 s)": {"action": "slow", "seconds": 0.2},
    "garbage answer (HTML, 200)": {"action": "garbage", "status": 200},
    "HTTP 502 with an HTML page": {"action": "garbage", "status": 502},
    "HTTP 401": {"status": 401},
    "HTTP 403": {"status": 403},
    "HTTP 404": {"status": 404},
    "HTTP 429 (Retry-After: 1)": {"status": 429, "retry_after": "1"},
    "HTTP 500": {"status": 500},
    "HTTP 503": {"status": 503},
}
# Once, after the emulator has acted on the write (so it is applied).
AFTER_APPLIED: dict[str, dict[str, Any]] = {
    "answer lost after the API applied it": {"action": "drop", "applied": True, "times": 1},
    "HTTP 500 after the API applied it": {"status": 500, "applied": True, "times": 1},
    "garbage after the API applied it": {
        "action": "garbage",
        "status": 200,
        "applied": True,
        "times": 1,
    },
}


INTRUDER = record_of(NEXT_KEY).replace(" 1 1 ", " 1 2 ") + record_of(CERT).split()[-1]
OLD_SET = frozenset({record_of(CERT)})
NEW_SET = frozenset({record_of(CERT), record_of(NEXT_KEY)})


class Site(Protocol):
    config: Path

    def found(self) -> list[frozenset[str]]: ...

    def held(self) -> str: ...

    def bystanders_intact(self) -> bool: ...


def write_config(directory: Path, kind: str, url: str, ttl: int, token_env: str) -> Path:
    """tlsagen.toml for two hosts of one service, on the emulator at `url`: the old record is
    the example certificate's, the plan adds the next key's; short HTTP timeout, no polling."""
    path = directory / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = {ttl}\nstate = '{directory / 'state.json'}'\n\n"
        f"[providers.api]\ntype = '{kind}'\ntoken = 'env:{token_env}'\n"
        f"endpoint-url = '{url}'\ntimeout = 0.5\nnameservers = []\n\n"
        "[[services]]\nname = 'mail'\nhosts = ['mx1.example.com', 'mx2.example.com']\n"
        f"cert = '{CERT}'\nnext-key = '{NEXT_KEY}'\n"
    )
    return path


@dataclass(frozen=True)
class Step:
    method: str
    path: str  # a regex of the request path
    skip: int = 0  # matching requests of earlier steps


def case(step: str, fault: str, code: int, held: str, core: bool = False) -> Any:
    marks = () if core else long_run
    return pytest.param(step, fault, code, held, marks=marks, id=case_id(step, fault))


def every_fault(step: str, code: int, held: str, core: set[str]) -> list[Any]:
    """Each fault of FAULTS at `step`: `code` and `held`, but a slow answer succeeds."""
    return [
        case(step, fault, 0, NEW, fault in core)
        if fault.startswith("slow")
        else case(step, fault, code, held, fault in core)
        for fault in FAULTS
    ]


def cases(core: dict[str, set[str]]) -> list[Any]:
    """The table every web API provider gets; `core` names the cases that run by default."""
    return [
        *every_fault(DISCOVER, 4, OLD, core.get(DISCOVER, set())),
        *every_fault(READ, 4, OLD, core.get(READ, set())),
        *every_fault(APPLY_READ, 4, OLD, core.get(APPLY_READ, set())),
        *every_fault(APPLY, 4, OLD, core.get(APPLY, set())),
        *[case(APPLY, fault, 0, NEW, core=True) for fault in AFTER_APPLIED],
        *every_fault(READ_BACK, 4, NEW, core.get(READ_BACK, set())),
    ]


def publish_through(
    provider: str,
    site: Site,
    emulator: Emulator,
    step: tuple[str, Step],
    fault: str,
    code: int,
    held: str,
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> str | None:
    """Publish with `fault` at `step`; check the exit code, the one-line error, what the API
    holds and that no token shows; record the row; then re-run without the fault."""
    name, where = step
    spec = {"times": None, **(FAULTS.get(fault) or AFTER_APPLIED[fault])}
    emulator.inject(method=where.method, path=where.path, skip=where.skip, **spec)
    run = run_cli(capsys, "publish", "--config", site.config)
    line = faults.expect(provider, name, fault, run, code, held)
    assert site.held() == held
    assert site.bystanders_intact()
    assert emulator.token not in run.out + run.err
    emulator.faults.clear()
    rerun = run_cli(capsys, "publish", "--config", site.config)
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW and site.bystanders_intact()
    return line


@dataclass(frozen=True)
class Race:
    """Another writer's change at one step: just before the request acts, or right after."""

    step: str
    after: bool
    code: int
    held: str  # what the owners hold afterwards, in words
    found: list[frozenset[str]]  # each owner's records afterwards
    lost: str = "none"  # what of the other writer's change is gone


def race_through(
    provider: str,
    site: Site,
    emulator: Emulator,
    fault: str,
    race: Race,
    where: Step,
    other_writer: Callable[[], None],
    capsys: pytest.CaptureFixture[str],
    faults: Faults,
) -> None:
    """Publish with `other_writer` let in at `where`; check the outcome, record the row, re-run."""
    emulator.inject(
        method=where.method,
        path=where.path,
        skip=where.skip,
        action="race",
        applied=race.after,
        before=other_writer,
    )
    run = run_cli(capsys, "publish", "--config", site.config)
    faults.expect(provider, race.step, fault, run, race.code, race.held)
    faults.rows[-1] = dataclasses.replace(faults.rows[-1], lost=race.lost)
    assert site.found() == race.found
    assert site.bystanders_intact()
    rerun = run_cli(capsys, "publish", "--config", site.config)
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW


def race_ids(races: dict[str, Race]) -> list[str]:
    return [case_id(race.step, fault) for fault, race in races.items()]
