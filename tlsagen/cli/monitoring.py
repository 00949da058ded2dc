"""`check --format nagios|prometheus`: check's report in the formats monitoring systems read.

- nagios: the monitoring plugin interface (Nagios, Icinga, Naemon, Zabbix's plugin runner): exit
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one status line with performance data, then details.
- prometheus: the text exposition format, for node_exporter's textfile collector: one series per
  host, address, key and record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tlsagen.errors import TlsagenError

if TYPE_CHECKING:
    from tlsagen.check import HostReport, Problem, Report

FORMATS = ("nagios", "prometheus")
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
# check's problem kinds (tlsagen.check) -> plugin state. A bogus RRset, a live key without a
# record and a failure (a server or lookup that does not answer) all stop DANE mail: CRITICAL.
# A bug in a check job (internal) left part of the check undone: UNKNOWN.
NAGIOS_STATES = {
    "internal": UNKNOWN,
    "bogus": CRITICAL,
    "mismatch": CRITICAL,
    "failure": CRITICAL,
    "warning": WARNING,
}
DAY = 86400.0


def nagios_state(problems: list[Problem]) -> int:
    """The plugin state of a set of problems: the worst; notes alone are OK."""
    return max((NAGIOS_STATES.get(p.kind, OK) for p in problems), default=OK)


def _clean(text: str) -> str:
    """Remote text on one plugin line: control characters escaped, no `|` (perfdata starts)."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown.replace("|", "/")


def _leaf_expiry(chain: tuple[bytes, ...]) -> datetime | None:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(chain[0]).not_valid_after_utc
    except (ValueError, IndexError):
        return None


def _cert_expiries(host: HostReport) -> Iterator[tuple[str, str, datetime]]:
    """(address, key type, leaf expiry) of every live handshake."""
    for check in host.probes:
        for live in check.live:
            expires = _leaf_expiry(live.served.chain)
            if expires is not None:
                yield check.address, live.key_type, expires


def _perfdata(report: Report, now: datetime) -> list[str]:
    """Days until the first live certificate and the first TLSA RRSIG of each host expire."""
    found: dict[str, float] = {}
    for target in report.targets:
        for host in target.hosts:
            name = host.host.rstrip(".")
            certs = [expires for _, _, expires in _cert_expiries(host)]
            sigs = [view.expires for view in host.servers if view.expires is not None]
            for what, times in (("cert_days", certs), ("rrsig_days", sigs)):
                if times:
                    found[f"{what}_{name}"] = (min(times) - now).total_seconds() / DAY
    return [f"'{label}'={days:.2f};;;" for label, days in found.items()]


def nagios(report: Report, now: datetime) -> tuple[int, str]:
    """The plugin state and output: a status line with performance data, then one line per
    problem (worst first) and per host."""
    problems = sorted(report.problems(), key=lambda p: -NAGIOS_STATES.get(p.kind, OK))
    state = nagios_state(problems)
    hosts = [host for target in report.targets for host in target.hosts]
    serious = [p for p in problems if NAGIOS_STATES.get(p.kind, OK) > OK]
    if serious:
        more = f" (and {len(serious) - 1} more)" if len(serious) > 1 else ""
        summary = f"{_clean(serious[0].text)}{more}"
    else:
        keys = sum(len(c.live) for h in hosts for c in h.probes)
        summary = f"{len(hosts)} host(s), {keys} live key(s) match their TLSA records"
    perfdata = " ".join(_perfdata(report, now))
    lines = [f"DANE {STATES[state]} - {summary}" + (f" | {perfdata}" if perfdata else "")]
    lines += [f"{p.kind}: {_clean(p.text)}" for p in problems]
    for host in hosts:
        status = host.tlsa.status if host.tlsa else "given"
        lines.append(f"{host.owner}: {status}, {len(host.records)} record(s)")
    return state, "\n".join(lines) + "\n"


F = TypeVar("F", bound=Callable[..., Any])


def unknown_on_error(command: F) -> F:
    """With `--format nagios`, an error before any report (a bad configuration, no resolver)
    is the plugin state UNKNOWN with the error as its status line, not another exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TlsagenError as exc:
            if kwargs.get("fmt") != "nagios":
                raise
            print(f"DANE UNKNOWN - {_clean(str(exc))}")
            raise typer.Exit(UNKNOWN) from None

    return run  # type: ignore[return-value]


# --- prometheus ----------------------------------------------------------------------------------

_FAMILIES = {  # name -> help; every family is a gauge
    "tlsagen_check_timestamp_seconds": "When the check ran (Unix time).",
    "tlsagen_check_exit_code": "The exit code tlsagen check gives for this report.",
    "tlsagen_check_problems": (
        "Problems found, by kind (internal, bogus, mismatch, failure, warning, note)."
    ),
    "tlsagen_tlsa_dnssec_status": "DNSSEC status of the TLSA RRset through the resolver (1: this).",
    "tlsagen_tlsa_dane": "1 when senders use the TLSA records: a secure, non-empty RRset.",
    "tlsagen_tlsa_records": "Number of TLSA records at the owner.",
    "tlsagen_tlsa_server_answered": "1 when the authoritative server answered for the owner.",
    "tlsagen_tlsa_rrsig_expiry_timestamp_seconds": "When the served TLSA RRSIG expires.",
    "tlsagen_probe_success": "1 when the TLS handshake with the address succeeded.",
    "tlsagen_key_match": "1 when the live key of this type matches a TLSA record.",
    "tlsagen_record_match": "1 when this TLSA record matches the live key of this type.",
    "tlsagen_certificate_expiry_timestamp_seconds": "When the live certificate expires.",
}
_KINDS = ("internal", "bogus", "mismatch", "failure", "warning", "note")
_DNSSEC = ("secure", "insecure", "bogus", "indeterminate")


def _number(value: float) -> str:
    """Exact: `1764950400`, `0.25` (`:g` would round a timestamp to six digits)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Series:
    """Samples grouped by family, each series once (a host reached through two targets)."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, float]] = {name: {} for name in _FAMILIES}

    def add(self, name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{key}="{_label(v)}"' for key, v in labels.items())
        self.samples[name].setdefault(f"{name}{{{text}}}" if text else name, value)

    def render(self) -> str:
        lines = []
        for name, samples in self.samples.items():
            if samples:
                lines += [f"# HELP {name} {_FAMILIES[name]}", f"# TYPE {name} gauge"]
                lines += [f"{series} {_number(value)}" for series, value in samples.items()]
        return "\n".join(lines) + "\n"


def _host_series(series: _Series, host: HostReport) -> None:
    ids = {"host": host.host, "owner": host.owner.name}
    if host.tlsa is not None:
        for status in _DNSSEC:
            series.add(
                "tlsagen_tlsa_dnssec_status", host.tlsa.status == status, **ids, status=status
            )
    series.add("tlsagen_tlsa_dane", host.dane, **ids)
    series.add("tlsagen_tlsa_records", len(host.records), **ids)
    for view in host.servers:
        server = str(view.server)
        series.add("tlsagen_tlsa_server_answered", view.error is None, **ids, server=server)
        if view.expires is not None:
            expiry = view.expires.timestamp()
            series.add("tlsagen_tlsa_rrsig_expiry_timestamp_seconds", expiry, **ids, server=server)
    for check in host.probes:
        series.add("tlsagen_probe_success", check.error is None, **ids, address=check.address)
        for live in check.live:
            key = {**ids, "address": check.address, "key": live.key_type}
            result = live.result
            series.add("tlsagen_key_match", bool(result and result.matched), **key)
            for record in result.results if result else ():
                matched = record.status == "match"
                series.add("tlsagen_record_match", matched, **key, record=record.record.to_text())
    for address, key_type, expires in _cert_expiries(host):
        where = {**ids, "address": address, "key": key_type}
        series.add("tlsagen_certificate_expiry_timestamp_seconds", expires.timestamp(), **where)


def prometheus(report: Report, now: datetime, strict: bool = False) -> str:
    """The report as gauges in the Prometheus text format."""
    series = _Series()
    error = report.error(strict)
    series.add("tlsagen_check_timestamp_seconds", now.timestamp())
    series.add("tlsagen_check_exit_code", error.exit_code if error else 0)
    problems = report.problems()
    for kind in _KINDS:
        series.add("tlsagen_check_problems", sum(p.kind == kind for p in problems), kind=kind)
    for target in report.targets:
        for host in target.hosts:
            _host_series(series, host)
    return series.render()


def show(report: Report, fmt: str, now: datetime, strict: bool) -> int:
    """Print the report in `fmt`; the exit code: the plugin state for nagios, 0 for prometheus
    (the problems are in the metrics; a failure to write them is another exit code)."""
    if fmt == "nagios":
        state, text = nagios(report, now)
        print(text, end="")
        return state
    print(prometheus(report, now, strict), end="")
    return 0
