"""What a run plans and finds: each owner's desired and held RRset, each service's rollover, the
servers' reports after a wait, and what a run did. Values only; the engine makes them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlsagen.config import Service
from tlsagen.core.endpoint import Endpoint
from tlsagen.core.records import Change, ChangeSet, Owner, RRset, diff
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import TlsagenError
from tlsagen.rollover import planner

if TYPE_CHECKING:
    from tlsagen.rollover import deploy


@dataclass(frozen=True)
class OwnerPlan:
    """One owner: what DNS holds, what it should hold, and whether changing it is safe."""

    service: str
    provider: str
    zone: str
    desired: RRset
    current: RRset | None
    roles: Mapping[TLSAData, str]  # why each desired record is there: "current: FILE"
    unsafe: str | None = None  # why the change is refused, if it is

    @property
    def owner(self) -> Owner:
        return self.desired.owner

    @property
    def change(self) -> Change | None:
        changes = diff(
            {self.owner: self.desired}, {self.owner: self.current} if self.current else {}
        )
        return changes[0] if changes else None


@dataclass(frozen=True)
class ServicePlan:
    """One service's rollover: its slots, steps and gates, and the files a deploy would install."""

    service: Service
    rollover: planner.Rollover
    under_rollover: bool  # see engine.under_rollover
    staged: deploy.Files | None


@dataclass(frozen=True)
class Plan:
    owners: tuple[OwnerPlan, ...]
    warnings: tuple[str, ...]
    services: tuple[ServicePlan, ...] = ()

    @property
    def pending(self) -> tuple[OwnerPlan, ...]:
        return tuple(o for o in self.owners if o.change is not None)

    def change_sets(self) -> dict[tuple[str, str], ChangeSet]:
        """(provider name, zone) -> the changes to apply there."""
        grouped: dict[tuple[str, str], list[Change]] = defaultdict(list)
        for item in self.owners:
            if item.change is not None:
                grouped[(item.provider, item.zone)].append(item.change)
        return {key: ChangeSet(key[1], tuple(changes)) for key, changes in grouped.items()}


# A server's state at the end of a wait: it serves every planned RRset; it answered an error
# that waiting will not cure (REFUSED, NOTAUTH, SERVFAIL: it was no longer waited for); it
# answered but not yet the planned records; its last query went unanswered.
SERVING, FAILING, BEHIND, SILENT = "serving", "failing", "behind", "silent"
NEVER_SERVING = ("REFUSED", "NOTAUTH", "SERVFAIL")


@dataclass(frozen=True)
class ServerReport:
    zone: str
    server: Endpoint
    serial: int | None
    missing: tuple[Owner, ...]  # owners this server did not serve as desired
    seconds: float
    state: str  # SERVING, FAILING, BEHIND or SILENT
    rcode: str | None  # of its last answer (None: it did not answer)


@dataclass
class RunResult:
    """What a publish or rollover run did: its first plan (what was pending) and its last, the
    zones updated, the servers' reports after the last wait, the services deployed and the
    deploys recovered; `failure`, the error that ended the run after a change was applied (the
    caller shows what was done, then raises it)."""

    first: Plan
    plan: Plan
    applied: list[tuple[str, str]] = field(default_factory=list)  # (provider, zone)
    servers: list[ServerReport] = field(default_factory=list)
    deployed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)  # zones left when applying failed
    failure: TlsagenError | None = None

    @property
    def lagging(self) -> list[ServerReport]:
        return [report for report in self.servers if report.missing]

    def _closed(self, refused: bool) -> list[tuple[str, planner.Step]]:
        return [
            (item.service.name, step)
            for item in self.plan.services
            for step in item.rollover.steps
            if not step.gate.passed and step.gate.refused == refused
        ]

    def refused(self) -> list[tuple[str, planner.Step]]:
        """(service, step) for each step whose gate refuses it: evidence says it is unsafe."""
        return self._closed(refused=True)

    def waiting(self) -> list[tuple[str, planner.Step]]:
        """(service, step) for each step whose gate waits: for its clock, or to be started."""
        return self._closed(refused=False)
