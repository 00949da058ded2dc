"""Rendering for people and machines. The only module that knows rich; it loads rich lazily."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from tlsagen.core.text import escaped
from tlsagen.core.tlsa import TLSAData
from tlsagen.core.verify import unusable
from tlsagen.plans import OwnerPlan, Plan, RunResult, ServerReport
from tlsagen.rollover.planner import Gate

if TYPE_CHECKING:
    from tlsagen.check import HostReport, Live, Problem, Report
    from tlsagen.net.lookup import Answer, ServerView

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
    """(state, record text, role) for each record held or desired; a record DNS holds that is
    not TLSA data as stored (remote text: escape it), with why it cannot be read."""
    held = item.current.records if item.current else frozenset()
    rows = []
    for record in sorted(held | item.desired.records):
        if record in held and record in item.desired.records:
            state = "keep"
        elif record in item.desired.records:
            state = "add"
        else:
            state = "remove"
        rows.append((state, record.to_text(), _role(item, record)))
    for bad in sorted(item.current.malformed if item.current else ()):
        rows.append(("remove", bad.text, f"malformed: {bad.reason}"))
    return rows


def _role(item: OwnerPlan, record: TLSAData) -> str:
    if record in item.roles:
        return item.roles[record]
    why = unusable(record, smtp=item.owner.port == 25)
    return f"not configured; unusable: {why}" if why else "not configured"


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
                lines.append(f"  {_MARK[state]} {escaped(text)}  ({escaped(role)})")
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
    """A table whose records column folds long record data onto more lines, never cuts it."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="tlsagen plan")
    for column in ("owner", "service", "zone", "action", "records"):
        table.add_column(column, overflow="fold")
    style = {"keep": "", "add": "green", "remove": "red"}
    for item in plan.owners:
        rows = [(s, escape(escaped(t)), escape(escaped(r))) for s, t, r in _record_rows(item)]
        records = "\n".join(
            f"[{style[s]}]{_MARK[s]} {t}[/] {r}" if style[s] else f"  {t} {r}" for s, t, r in rows
        )
        if item.unsafe:
            records += f"\n[bold red]refused:[/] {escape(item.unsafe)}"
        table.add_row(
            escape(item.owner.name), escape(item.service), escape(item.zone), _action(item), records
        )
    console = Console()
    console.print(table)
    console.print(summary(plan))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Text for a Markdown code span in a table cell (which cannot hold a backtick)."""
    return _cell(escaped(text)).replace("`", "'")


def plan_markdown(plan: Plan) -> str:
    """The plan as a Markdown table, fit for a pull-request comment; warnings come first, where
    a reviewer cannot miss them."""
    lines = ["### tlsagen plan", "", f"**{summary(plan)}**", ""]
    lines += [f"> **Warning:** {_cell(w)}" for w in plan.warnings]
    lines += [""] if plan.warnings else []
    lines += ["| owner | service | zone | action | records |", "|---|---|---|---|---|"]
    for item in plan.owners:
        records = "<br>".join(
            f"`{_MARK[state].strip() or '='} {_code(text)}` {_cell(escaped(role))}"
            for state, text, role in _record_rows(item)
        )
        if item.unsafe:
            records += f"<br>**refused:** {_cell(item.unsafe)}"
        lines.append(
            f"| `{item.owner}` | {_cell(item.service)} | `{item.zone}` | {_action(item)} "
            f"| {records} |"
        )
    return "\n".join(lines) + "\n"


PLAN_FORMATS = ("text", "json", "markdown")


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())


@contextmanager
def kept_warnings() -> Iterator[list[str]]:
    """The warnings logged inside the block (by the config, a provider, the engine), kept for
    a report to carry: stderr still shows them, and JSON or Markdown must too."""
    kept = _Kept()
    log = logging.getLogger("tlsagen")
    log.addHandler(kept)
    try:
        yield kept.messages
    finally:
        log.removeHandler(kept)


def with_logged(plan: Plan, logged: Sequence[str]) -> Plan:
    """`plan` carrying the warnings logged while it was made or carried out (kept_warnings)
    before its own, each once: a report shows every warning stderr showed."""
    return replace(plan, warnings=tuple(dict.fromkeys((*logged, *plan.warnings))))


def show_plan(plan: Plan, fmt: str) -> None:
    """`text` (a table on a terminal, stable lines when piped), `json` or `markdown`."""
    if fmt == "json":
        print(json.dumps(plan_json(plan), indent=2))
    elif fmt == "markdown":
        print(plan_markdown(plan), end="")
    elif is_terminal():
        _plan_table(plan)
    else:
        print(plan_text(plan), end="")


def server_lines(reports: list[ServerReport]) -> list[str]:
    lines = []
    for report in reports:
        serial = f"serial {report.serial}" if report.serial is not None else "serial unknown"
        if report.missing:
            answered = f"answered {report.rcode}" if report.rcode else "did not answer"
            lines.append(
                f"{report.zone} {report.server}: NOT serving {len(report.missing)} owner(s) "
                f"after {report.seconds:.1f} s ({report.state}: {answered}, {serial}), "
                f"first {report.missing[0]}"
            )
        else:
            lines.append(
                f"{report.zone} {report.server}: serves all planned records "
                f"({serial}, after {report.seconds:.1f} s)"
            )
    return lines


def publish_json(result: RunResult) -> dict[str, Any]:
    data = plan_json(result.first)
    data["applied"] = [{"provider": p, "zone": z} for p, z in result.applied]
    data["recovered"] = result.recovered  # deploys a crashed run left half done, rolled back
    data["servers"] = [
        {
            "zone": r.zone,
            "server": str(r.server),
            "serial": r.serial,
            "missing": [o.name for o in r.missing],
            "seconds": round(r.seconds, 3),
            "state": r.state,
            "rcode": r.rcode,
        }
        for r in result.servers
    ]
    return data


class Update(Protocol):
    def __call__(self, done: int, total: int, waiting: Sequence[str] = ()) -> None: ...


def _silent(done: int, total: int, waiting: Sequence[str] = ()) -> None:
    pass


@contextmanager
def progress(label: str) -> Iterator[Update]:
    """A progress callback: a rich bar on a terminal, naming what is still waited for (the
    servers, when waiting for them); nothing when stderr is piped."""
    if not sys.stderr.isatty():
        yield _silent
        return
    from rich.markup import escape
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, waiting: Sequence[str] = ()) -> None:
            shown = f"{label}: {', '.join(waiting)}" if waiting else label
            bar.update(task, completed=done, total=total, description=escape(shown))

        yield update


# --- check ---------------------------------------------------------------------------------------


def _answer_json(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "name": answer.name,
        "type": answer.rdtype,
        "status": answer.status,
        "values": answer.values(),
        "nxdomain": answer.nxdomain,
        "detail": answer.detail,
    }


def _server_json(view: ServerView) -> dict[str, Any]:
    return {
        "server": str(view.server),
        "serial": view.zone.serial,
        "ttl": view.rrset.ttl if view.rrset else None,
        "records": view.rrset.texts() if view.rrset else [],
        "signed": view.signed,
        "invalid": view.invalid,
        "rrsig_expires": view.expires.isoformat() if view.expires else None,
        "ds_match": view.zone.ds_match,
        "error": view.error,
    }


def _live_json(live: Live) -> dict[str, Any]:
    result = live.result
    return {
        "key_type": live.key_type,
        "requested": live.served.key_type,
        "tls": live.served.version,
        "cipher": live.served.cipher,
        "chain_length": len(live.served.chain),
        "leaf": live.leaf.to_text(),
        "matched": result.matched.to_text() if result and result.matched else None,
        "depth": result.depth if result else None,
        "records": [
            {"record": r.record.to_text(), "status": r.status, "reason": r.reason, "depth": r.depth}
            for r in (result.results if result else ())
        ],
    }


def _problems_json(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"kind": p.kind, "text": p.text} for p in problems]


def _host_json(host: HostReport) -> dict[str, Any]:
    return {
        "host": host.host,
        "owner": host.owner.name,
        "protocol": host.protocol,
        "dane": host.dane,
        "tlsa": _answer_json(host.tlsa),
        "records": sorted(r.to_text() for r in host.records),
        "malformed": [{"text": m.text, "reason": m.reason} for m in sorted(host.malformed)],
        "usable": host.usable,
        "zone": host.zone,
        "insecure_reason": host.insecure_reason or None,
        "addresses": [_answer_json(a) for a in host.addresses or []],
        "servers": [_server_json(v) for v in host.servers],
        "probes": [
            {
                "address": c.address,
                "error": str(c.error) if c.error else None,
                "live": [_live_json(live) for live in c.live],
            }
            for c in host.probes
        ],
        "problems": _problems_json(host.problems),
    }


def check_json(report: Report, strict: bool = False) -> dict[str, Any]:
    error = report.error(strict)
    return {
        "schema": SCHEMA,
        "exit_code": error.exit_code if error else 0,
        "resolver": str(report.resolver) if report.resolver else None,
        "problems": _problems_json(list(report.general)),
        "targets": [
            {
                "target": t.target.name,
                "label": t.target.label,
                "port": t.target.port,
                "mx": _answer_json(t.mx),
                "hosts": [_host_json(h) for h in t.hosts],
                "problems": _problems_json(t.problems),
            }
            for t in report.targets
        ],
    }


def _server_text(view: ServerView) -> str:
    if view.error:
        return "no answer"
    parts = [
        f"{len(view.rrset.records)} record(s) ttl {view.rrset.ttl}" if view.rrset else "no TLSA"
    ]
    if view.zone.dnskey is not None:
        parts.append("signed" if view.signed else "UNSIGNED")
        parts.append(f"INVALID: {view.invalid}" if view.invalid else "valid")
        if view.zone.ds_match is not None:
            parts.append("DS ok" if view.zone.ds_match else "NO DS MATCH")
    parts.append(f"serial {view.zone.serial}")
    if view.expires:
        parts.append(f"RRSIG until {view.expires:%Y-%m-%d %H:%M} UTC")
    return ", ".join(parts)


Row = tuple[int, str, str, str]  # (indent level, what, status, detail)


def _live_rows(address: str, live: Live) -> list[Row]:
    served, result = live.served, live.result
    tls = f" {served.version} {served.cipher}" if served.version else ""
    what = f"{address} {live.key_type}{tls}"
    if result is None:
        return [(1, what, "no records", f"live {live.leaf.to_text()}")]
    if result.matched is not None:
        return [(1, what, "match", f"{result.matched.to_text()} at depth {result.depth}")]
    rows = [(1, what, "NO MATCH", f"live {live.leaf.to_text()}")]
    for r in result.results:
        rows.append((2, f"{r.record.params} {r.record.data.hex()[:16]}…", r.status, r.reason))
    return rows


def _host_rows(host: HostReport) -> list[Row]:
    """The rows shared by the text and the table."""
    tlsa = host.tlsa
    detail = f"{len(host.records)} record(s)"
    if host.zone:
        detail += f", zone {host.zone}"
    if tlsa and tlsa.detail:
        detail += f", {tlsa.detail}"
    rows: list[Row] = [(0, f"{host.owner} TLSA", tlsa.status if tlsa else "given", detail)]
    rows += [(1, "record", "", text) for text in sorted(r.to_text() for r in host.records)]
    rows += [(1, "record", "unusable", f"{m.text} ({m.reason})") for m in sorted(host.malformed)]
    for answer in host.addresses or []:
        if answer.rrset or answer.status != "secure":
            rows.append((1, answer.rdtype, answer.status, " ".join(answer.values())))
    rows += [(1, f"server {v.server}", "", _server_text(v)) for v in host.servers]
    for check in host.probes:
        if check.error is not None:
            rows.append((1, f"{check.address} {check.error.stage}", "FAILED", str(check.error)))
        for live in check.live:
            rows += _live_rows(check.address, live)
    return rows


def _verdict(report: Report, strict: bool) -> str:
    problems = report.problems()
    counts = {
        kind: sum(p.kind == kind for p in problems)
        for kind in dict.fromkeys(p.kind for p in problems)
    }
    error = report.error(strict)
    listing = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no problems"
    return f"result: {listing} (exit {error.exit_code if error else 0})"


def _resolver_lines(report: Report) -> list[str]:
    """The resolver asked, if any, and the problems of the whole run (the resolver's, a bug's)."""
    from tlsagen.check import INTERNAL  # loaded already: the report comes from it

    problems = [f"{p.kind}: {p.text}" for p in report.general]
    if report.resolver is None:
        return problems
    resolver_failed = any(p.kind != INTERNAL for p in report.general)
    validates = "" if resolver_failed else " (validates DNSSEC)"
    return [f"resolver: {report.resolver}{validates}", *problems]


def check_text(report: Report, strict: bool = False) -> str:
    lines = _resolver_lines(report)
    for target in report.targets:
        mx = target.mx
        if mx is not None:
            hosts = ", ".join(h.host for h in target.hosts) or "none"
            lines.append(f"{target.target.name} MX ({mx.status}): {hosts}")
        for problem in target.problems:
            lines.append(f"  {problem.kind}: {problem.text}")
        for host in target.hosts:
            for level, what, status, detail in _host_rows(host):
                told = ", ".join(part for part in (status, detail) if part)
                lines.append(f"{'  ' * level}{what}: {told}")
            lines += [f"  {p.kind}: {p.text}" for p in host.problems]
    lines.append(_verdict(report, strict))
    return "\n".join(lines) + "\n"


_STYLE = {
    "bogus": "bold red",
    "mismatch": "bold red",
    "failure": "red",
    "warning": "yellow",
    "note": "dim",
    "secure": "green",
    "match": "green",
    "insecure": "yellow",
    "NO MATCH": "bold red",
    "FAILED": "red",
    "no match": "red",
    "unusable": "yellow",
    "ignored": "dim",
}


def _check_tables(report: Report, strict: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for line in _resolver_lines(report):
        console.print(escape(line))
    for target in report.targets:
        title = target.target.label or target.target.name
        if target.mx is not None:
            title += f" (MX {target.mx.status})"
        table = Table(title=title, title_justify="left")
        for column in ("what", "status", "detail"):
            table.add_column(column, overflow="fold")  # record data wraps, never cut
        for host in target.hosts:
            for level, what, status, detail in _host_rows(host):
                style = _STYLE.get(status, "")
                shown = f"[{style}]{escape(status)}[/]" if style else escape(status)
                table.add_row(escape("  " * level + what), shown, escape(detail))
            table.add_section()
        console.print(table)
        problems = target.problems + [p for h in target.hosts for p in h.problems]
        for problem in problems:
            console.print(f"[{_STYLE[problem.kind]}]{problem.kind}[/]: {escape(problem.text)}")
    console.print(_verdict(report, strict))


def show_check(report: Report, as_json: bool, strict: bool = False) -> None:
    if as_json:
        print(json.dumps(check_json(report, strict), indent=2))
    elif is_terminal():
        _check_tables(report, strict)
    else:
        print(check_text(report, strict), end="")


# --- rollover ------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """`45s`, `1h 58m`, `2d 3h`: the two largest units."""
    left = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def moment(when: datetime, now: datetime) -> str:
    """`2026-11-28 14:00:00 UTC (in 1h 58m)`."""
    delta = (when - now).total_seconds()
    relative = f"in {duration(delta)}" if delta > 0 else f"{duration(delta)} ago"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({relative})"


def gate_state(gate: Gate, now: datetime) -> str:
    """`due`, `refused`, `waits until 2026-11-28 14:00:00 UTC (in 1h 58m)`, or `waits` when no
    clock has started yet (the reason says for what)."""
    if gate.passed:
        return "due"
    if gate.refused:
        return "refused"
    return f"waits until {moment(gate.opens, now)}" if gate.opens else "waits"


def _short(records: Iterable[TLSAData]) -> str:
    return ", ".join(f"{r.to_text()[:22]}…" for r in sorted(records))


def _held(plan: Plan, service: str) -> list[OwnerPlan]:
    return [item for item in plan.owners if item.service == service]


def rollover_text(plan: Plan, now: datetime) -> str:
    lines = []
    for item in plan.services:
        service = item.service
        how = f"deploys to {service.deploy.cert}" if service.deploy else "the server reads cert"
        mode = (
            "under rollover"
            if item.under_rollover
            else "not under rollover (publish mirrors config)"
        )
        lines.append(f"{service.name}: {mode}; {how}")
        for slot in item.rollover.slots:
            dns = "in DNS" if slot.in_dns else "NOT in DNS"
            since = f", served everywhere since {moment(slot.since, now)}" if slot.since else ""
            lines.append(f"  {slot.role:<9}{_short(slot.records)}  {slot.source}  ({dns}{since})")
        for owner in _held(plan, service.name):
            held = owner.current
            what = f"{len(held.records)} record(s), TTL {held.ttl}" if held else "no TLSA RRset"
            lines.append(f"  DNS      {owner.owner}: {what}")
        for step in item.rollover.steps:
            lines.append(f"  {step.kind}: {gate_state(step.gate, now)}: {step.gate.reason}")
        if not item.rollover.steps:
            lines.append("  nothing to do")
    return "\n".join(lines) + "\n"


def _gate_json(gate: Gate, now: datetime) -> dict[str, Any]:
    return {
        "passed": gate.passed,
        "refused": gate.refused,
        "opens": gate.opens.isoformat() if gate.opens else None,
        "opens_in_seconds": (
            max(0, round((gate.opens - now).total_seconds())) if gate.opens else None
        ),
        "reason": gate.reason,
    }


def rollover_json(plan: Plan, now: datetime) -> dict[str, Any]:
    services = []
    for item in plan.services:
        services.append(
            {
                "service": item.service.name,
                "managed": item.under_rollover,  # the schema 1 name of "under rollover"
                "deploy": str(item.service.deploy.cert) if item.service.deploy else None,
                "slots": [
                    {
                        "role": slot.role,
                        "key": slot.name,
                        "source": slot.source,
                        "records": sorted(r.to_text() for r in slot.records),
                        "in_dns": slot.in_dns,
                        "served_since": slot.since.isoformat() if slot.since else None,
                    }
                    for slot in item.rollover.slots
                ],
                "dns": [
                    {
                        "owner": owner.owner.name,
                        "ttl": owner.current.ttl if owner.current else None,
                        "records": owner.current.texts() if owner.current else [],
                    }
                    for owner in _held(plan, item.service.name)
                ],
                "steps": [
                    {
                        "step": step.kind,
                        "records": sorted(r.to_text() for r in step.records),
                        "gate": _gate_json(step.gate, now),
                    }
                    for step in item.rollover.steps
                ],
            }
        )
    return {
        "schema": SCHEMA,
        "now": now.isoformat(),
        "services": services,
        "warnings": list(plan.warnings),
    }


def show_rollover(plan: Plan, now: datetime, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rollover_json(plan, now), indent=2))
    else:
        print(rollover_text(plan, now), end="")


def rollover_result_lines(result: RunResult, now: datetime) -> list[str]:
    """What an `advance` did, then what it left for later."""
    lines = list(result.recovered)
    if result.applied:
        lines.append(plan_text(Plan(result.first.pending, ())).rstrip("\n"))
    lines += server_lines(result.servers)
    lines += [f"{name}: deployed and reloaded" for name in result.deployed]
    for name, step in result.waiting() + result.refused():
        lines.append(f"{name}: {step.kind} {gate_state(step.gate, now)}: {step.gate.reason}")
    return lines
