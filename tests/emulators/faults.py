"""The fault cases the Cloudflare and deSEC fault tests share (tests/faults/test_faults_*.py):
what the emulator does at one step of `tlsagen publish`, and the outcome each must have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from tests.emulators.server import Emulator
from tests.faults.common import NEW, OLD, Faults, case_id, long_run, run_cli

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


class Site(Protocol):
    config: Any

    def held(self) -> str: ...

    def bystanders_intact(self) -> bool: ...


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
