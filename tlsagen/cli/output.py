"""Rendering for people and machines. The only module that knows rich; it loads rich lazily."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tlsagen.engine import OwnerPlan, Plan, PublishResult, ServerReport

SCHEMA = 1


def is_terminal() -> bool:
    return sys.stdout.isatty()


def _action(item: OwnerPlan) -> str:
    change = item.change
    if change is None:
        return "none"
    if change.before is None:
        return "create"
    return "delete" if change.after is None else "update"


def _record_rows(item: OwnerPlan) -> list[tuple[str, str, str]]:
    """(state, record text, role) for each record held or desired."""
    held = item.current.records if item.current else frozenset()
    rows = []
    for record in sorted(held | item.desired.records):
        if record in held and record in item.desired.records:
            state = "keep"
        elif record in item.desired.records:
            state = "add"
        else:
            state = "remove"
        rows.append((state, record.to_text(), item.roles.get(record, "not configured")))
    return rows


def plan_json(plan: Plan) -> dict[str, Any]:
    owners = []
    for item in plan.owners:
        owners.append(
            {
                "service": item.service,
                "owner": item.owner.name,
                "zone": item.zone,
                "provider": item.provider,
                "action": _action(item),
                "ttl": {
                    "current": item.current.ttl if item.current else None,
                    "desired": item.desired.ttl,
                },
                "records": [
                    {"state": state, "record": text, "role": role}
                    for state, text, role in _record_rows(item)
                ],
                "unsafe": item.unsafe,
            }
        )
    return {
        "schema": SCHEMA,
        "changes_pending": bool(plan.pending),
        "owners": owners,
        "warnings": list(plan.warnings),
    }


_MARK = {"keep": " ", "add": "+", "remove": "-"}


def plan_text(plan: Plan) -> str:
    lines = []
    for item in plan.owners:
        ttl = ""
        if item.current and item.current.ttl != item.desired.ttl:
            ttl = f", ttl {item.current.ttl} -> {item.desired.ttl}"
        lines.append(
            f"{item.owner} ({item.service}, zone {item.zone}, provider {item.provider}): "
            f"{_action(item)}{ttl}"
        )
        if item.change is not None:
            for state, text, role in _record_rows(item):
                lines.append(f"  {_MARK[state]} {text}  ({role})")
        if item.unsafe:
            lines.append(f"  ! refused: {item.unsafe}")
    lines.append(summary(plan))
    return "\n".join(lines) + "\n"


def summary(plan: Plan) -> str:
    pending = len(plan.pending)
    if not pending:
        return f"No changes: all {len(plan.owners)} owner(s) hold the desired records."
    return f"{pending} of {len(plan.owners)} owner(s) to change."


def _plan_table(plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tlsagen plan")
    for column in ("owner", "service", "zone", "action", "records"):
        table.add_column(column)
    style = {"keep": "", "add": "green", "remove": "red"}
    for item in plan.owners:
        records = "\n".join(
            f"[{style[s]}]{_MARK[s]} {t[:24]}…[/] {r}" if style[s] else f"  {t[:24]}… {r}"
            for s, t, r in _record_rows(item)
        )
        if item.unsafe:
            records += f"\n[bold red]refused:[/] {item.unsafe}"
        table.add_row(item.owner.name, item.service, item.zone, _action(item), records)
    console = Console()
    console.print(table)
    console.print(summary(plan))


def show_plan(plan: Plan, as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan_json(plan), indent=2))
    elif is_terminal():
        _plan_table(plan)
    else:
        print(plan_text(plan), end="")


def server_lines(reports: list[ServerReport]) -> list[str]:
    lines = []
    for report in reports:
        serial = f"serial {report.serial}" if report.serial is not None else "serial unknown"
        if report.missing:
            lines.append(
                f"{report.zone} {report.server}: NOT serving {len(report.missing)} owner(s) "
                f"after {report.seconds:.1f} s ({serial}), first {report.missing[0]}"
            )
        else:
            lines.append(
                f"{report.zone} {report.server}: serves all planned records "
                f"({serial}, after {report.seconds:.1f} s)"
            )
    return lines


def publish_json(result: PublishResult) -> dict[str, Any]:
    data = plan_json(result.plan)
    data["applied"] = [{"provider": p, "zone": z} for p, z in result.applied]
    data["servers"] = [
        {
            "zone": r.zone,
            "server": str(r.server),
            "serial": r.serial,
            "missing": [o.name for o in r.missing],
            "seconds": round(r.seconds, 3),
        }
        for r in result.servers
    ]
    return data


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback: a rich bar on a terminal, nothing when stderr is piped."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
