"""`check`: is DANE in force for a mail domain or host, and does every live key match?

The steps, for each target: resolve the MX set; for each host, the address and TLSA lookups
through the validating resolver (lookup.Resolver), each authoritative server asked directly
(lookup.view_server), and a handshake on every address per key type (probe.fetch_each_key),
matched with verify.match. Jobs run in a bounded thread pool; each job fills its own slot of
the report and returns the jobs that follow from it, so one slow host holds up nobody.
`assess` then turns the collected facts into problems, purely. Before any of it, the resolver
must show that it validates DNSSEC: without that no verdict is a sender's.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from queue import SimpleQueue
from typing import Any, TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from tlsagen.core import policy
from tlsagen.core.endpoint import Endpoint
from tlsagen.core.material import Material, describe_key, spki_of_certificate
from tlsagen.core.records import Malformed, Owner
from tlsagen.core.text import escaped
from tlsagen.core.tlsa import MatchingType, TLSAData, digest, matches_key
from tlsagen.core.verify import MatchResult, match, unusable
from tlsagen.errors import (
    InputError,
    MismatchError,
    ProviderError,
    TlsagenError,
    UnsafeError,
    UsageError,
)
from tlsagen.net.dns import exchange, to_rrset
from tlsagen.net.lookup import (
    BOGUS,
    INDETERMINATE,
    INSECURE,
    SECURE,
    Answer,
    Resolver,
    ServerView,
    ZoneAt,
    view_server,
    zone_at,
)
from tlsagen.net.probe import ProbeError, Served, fetch_each_key, starttls_for
from tlsagen.rollover.planner import Memory, retire_gate

log = logging.getLogger("tlsagen")

# Problem kinds, most severe first; all but NOTE set the exit code (WARNING with --strict).
INTERNAL = "internal"  # a check job failed on a bug: what it would have found is missing
DNSSEC_BOGUS = "bogus"
MISMATCH = "mismatch"
FAILURE = "failure"
WARNING = "warning"
NOTE = "note"
ERRORS: dict[str, type[TlsagenError]] = {
    INTERNAL: TlsagenError,  # exit 1, as any bug
    DNSSEC_BOGUS: UnsafeError,
    MISMATCH: MismatchError,
    FAILURE: ProviderError,
    WARNING: UnsafeError,  # only with --strict
}

Job = Callable[[], list["Job"]]
T = TypeVar("T")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    kind: str  # INTERNAL, DNSSEC_BOGUS, MISMATCH, FAILURE, WARNING or NOTE
    text: str


@dataclass(frozen=True)
class Keys:
    """What the configuration and its state file say of a service's keys (config mode)."""

    current: tuple[Material, ...] = ()  # what the server presents or may present now
    staged: Material | None = None  # a renewed certificate waiting to be deployed
    nexts: tuple[Material, ...] = ()
    memory: Memory | None = None  # what the state file remembers of the service
    ttl: int = 0  # the configured TTL
    under_rollover: bool = False  # publish retires former keys' records after a gate


@dataclass(frozen=True)
class Target:
    """What to check: a mail domain (its MX hosts) or one host, on one port."""

    name: str  # absolute A-label name
    port: int = 25
    mx: bool | None = None  # True: must have MX; None: its MX hosts if it has any; False: host
    keys: Keys | None = None  # config mode: the service's keys
    label: str = ""  # how the user named it
    starttls: str | None = None  # "smtp", "imap", "pop3" or "none"; None: by port
    nameservers: tuple[Endpoint, ...] = ()  # the provider's servers of the zone (config mode)


@dataclass(frozen=True)
class Settings:
    resolver: Endpoint | None  # None: no DNS to ask (offline, with the records given)
    now: datetime
    nameservers: tuple[Endpoint, ...] = ()  # for every zone; empty: the target's, else the NS
    timeout: float = 10.0
    workers: int = 32
    sig_margin: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Live:
    """One handshake (or a chain read from a file) and how it matched the records."""

    served: Served
    result: MatchResult | None  # None when there were no records to match
    key_type: str  # of the leaf: "EC P-256"
    leaf: TLSAData  # 3 1 1 of the leaf


@dataclass
class AddressCheck:
    address: str  # an IP address, or the file a chain was read from
    live: list[Live] = field(default_factory=list)
    error: ProbeError | None = None


@dataclass
class HostReport:
    owner: Owner
    protocol: str  # "smtp", "imap", "pop3" or "none"
    keys: Keys | None = None
    addresses: list[Answer] | None = None  # A and AAAA; None when no connection is made
    tlsa: Answer | None = None  # None: records given on the command line
    records: frozenset[TLSAData] = frozenset()
    malformed: frozenset[Malformed] = frozenset()  # records there that are not TLSA data
    zone: str | None = None
    insecure_reason: str = ""
    servers: list[ServerView] = field(default_factory=list)
    # authoritative server -> the names above the owner it denies (NXDOMAIN) while serving it
    denied_above: dict[Endpoint, list[str]] = field(default_factory=dict)
    probes: list[AddressCheck] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.owner.host

    @property
    def smtp(self) -> bool:
        return self.protocol == "smtp" or self.owner.port == 25

    @property
    def dane(self) -> bool:
        """Whether senders use the records: a secure, non-empty TLSA RRset (or given ones)."""
        secure = self.tlsa is None or self.tlsa.status == SECURE
        return secure and bool(self.records or self.malformed)

    @property
    def usable(self) -> bool:
        """Whether a sender can use a record; if none, it requires TLS but does not authenticate
        (RFC 7672 §2.2)."""
        return any(unusable(record, self.smtp) is None for record in self.records)


@dataclass
class TargetReport:
    target: Target
    mx: Answer | None = None
    hosts: list[HostReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    targets: tuple[TargetReport, ...]
    resolver: Endpoint | None = None  # the validating resolver asked (None: none was)
    general: tuple[Problem, ...] = ()  # problems of the whole run: the resolver's, a bug's

    def problems(self) -> list[Problem]:
        found = list(self.general)
        for target in self.targets:
            found += target.problems
            for host in target.hosts:
                found += host.problems
        return found

    def error(self, strict: bool) -> TlsagenError | None:
        """The error that sets the exit code: the most severe problem kind found, if any."""
        problems = self.problems()
        for kind, error in ERRORS.items():
            found = [p for p in problems if p.kind == kind and (kind != WARNING or strict)]
            if found:
                more = f" (and {len(found) - 1} more {kind} problem(s))" if len(found) > 1 else ""
                return error(f"{found[0].text}{more}")
        return None


# --- collecting ----------------------------------------------------------------------------------


class _Run:
    """The jobs of one run and what they share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()  # guards `cache` only, never held while fetching
        self.cache: dict[Hashable, Future[Any]] = {}  # shared facts (a zone's servers, DS), once
        self.validated: dict[Hashable, str | None] = {}  # TLSA signatures checked (view_server)

    @property
    def resolver(self) -> Resolver:
        if self.settings.resolver is None:
            raise UsageError("this check asks DNS: give --resolver IP[:PORT]")
        return Resolver(self.settings.resolver, self.settings.timeout)

    def host(self, name: str, target: Target) -> HostReport:
        protocol = target.starttls or starttls_for(target.port)
        return HostReport(Owner.for_service(name, target.port), protocol, target.keys)

    def resolve_target(self, report: TargetReport) -> list[Job]:
        target = report.target
        names = [target.name]
        if target.mx is not False:
            answer = self.resolver.query(target.name, "MX")
            if answer.rrset or target.mx:
                report.mx = answer
                ranked = sorted(answer.rrset or [], key=lambda mx: (mx.preference, str(mx)))
                names = list(dict.fromkeys(mx.exchange.to_text().lower() for mx in ranked))
                names = [name for name in names if name != "."]
        report.hosts = [self.host(name, target) for name in names]
        return [partial(self.lookup_host, host, target.nameservers) for host in report.hosts]

    def lookup_host(self, host: HostReport, nameservers: tuple[Endpoint, ...]) -> list[Job]:
        host.addresses = [self.resolver.query(host.host, rdtype) for rdtype in ("A", "AAAA")]
        self.lookup_tlsa(host)
        jobs = self.server_jobs(host, nameservers)
        for answer in host.addresses:
            for address in answer.values() if answer.status != BOGUS else []:
                check = AddressCheck(address)
                host.probes.append(check)
                jobs.append(partial(self.probe, host, check))
        return jobs

    def lookup_tlsa(self, host: HostReport) -> None:
        """The TLSA RRset through the resolver, its zone, and why it is insecure if it is."""
        host.tlsa = self.resolver.query(host.owner.name, "TLSA", do=True)
        if host.tlsa.rrset is not None:
            found = to_rrset(host.owner, host.tlsa.rrset)
            host.records, host.malformed = found.records, found.malformed
        if host.tlsa.status != INDETERMINATE:
            host.zone = host.tlsa.zone or self.resolver.zone_of(host.owner.name)
        if host.zone and host.tlsa.status == INSECURE:
            host.insecure_reason = self.resolver.why_insecure(host.zone)

    def server_jobs(self, host: HostReport, nameservers: tuple[Endpoint, ...]) -> list[Job]:
        """One job per authoritative server, when the records are meant to be signed: those
        given for every zone, else the target's (its provider's), else the zone's NS."""
        signed = host.tlsa is not None and (
            host.tlsa.status == BOGUS or (host.tlsa.status == SECURE and host.records)
        )
        if host.zone is None or not signed:
            return []
        zone = host.zone
        servers = (
            self.settings.nameservers
            or nameservers
            or self._once(("NS", zone), partial(self.resolver.nameservers, zone))
        )
        host.servers = [ServerView(ZoneAt(server, zone)) for server in servers]
        return [partial(self.view, host, index) for index in range(len(servers))]

    def view(self, host: HostReport, index: int) -> list[Job]:
        now, timeout = self.settings.now, self.settings.timeout
        slot = host.servers[index].zone

        def zone_at_server() -> ZoneAt:
            ds = self._once(("DS", slot.name), lambda: self.resolver.query(slot.name, "DS"))
            return zone_at(slot.server, slot.name, ds.rrset, now, timeout)

        zone = self._once((slot.server, slot.name), zone_at_server)
        view = host.servers[index] = view_server(zone, host.owner, now, timeout, self.validated)
        if view.rrset is not None:
            denied = _denied_above(slot.server, host.owner.name, slot.name, timeout)
            if denied:
                host.denied_above[slot.server] = denied
        return []

    def _once(self, key: Hashable, make: Callable[[], T]) -> T:
        """make() the first time key is asked for in this run; later, what it made.

        Only the caller that claims the key runs make(), and other keys are fetched meanwhile.
        When make() raises, the key is forgotten and the exception reaches that caller; the
        callers waiting for it then try again, as if they had asked after it.
        """
        while True:
            mine: Future[Any] = Future()
            with self.lock:
                future = self.cache.setdefault(key, mine)
            if future is not mine:
                if future.exception() is None:
                    found: T = future.result()
                    return found
                continue
            try:
                made = make()
            except BaseException as exc:
                with self.lock:
                    del self.cache[key]
                future.set_exception(exc)
                raise
            future.set_result(made)
            return made

    def probe(self, host: HostReport, check: AddressCheck) -> list[Job]:
        sni = host.host.rstrip(".")
        served, check.error = fetch_each_key(
            check.address, host.owner.port, sni, host.protocol, self.settings.timeout
        )
        check.live = [self.live(host, each) for each in served if each.chain]
        return []

    def live(self, host: HostReport, served: Served) -> Live:
        result = None
        if host.records:
            result = match(served.chain, host.records, host.host, host.smtp, self.settings.now)
        return Live(served, result, _key_type(served.chain[0]), _leaf_record(served.chain[0]))


def _denied_above(server: Endpoint, owner: str, zone: str, timeout: float) -> list[str]:
    """The underscore names above `owner` (`_tcp.HOST`), which only the TLSA owner brings into
    `zone`, that `server` answers NXDOMAIN for although it serves the owner: resolvers that
    minimise query names (RFC 9156) stop at the NXDOMAIN. (Names from HOST up are those the
    address lookups go through.)"""
    above = dns.name.from_text(owner).parent()
    apex = dns.name.from_text(zone)
    denied = []
    while above.labels[0].startswith(b"_") and above != apex and above.is_subdomain(apex):
        query = dns.message.make_query(above, dns.rdatatype.A)
        query.flags &= ~dns.flags.RD
        try:
            reply = exchange(query, server, timeout)
        except (dns.exception.DNSException, OSError):
            break  # the server stopped answering: its views report that
        if reply.rcode() == dns.rcode.NXDOMAIN:
            denied.append(above.to_text())
        above = above.parent()
    return denied


def resolver_problem(endpoint: Endpoint, timeout: float) -> str | None:
    """Why `endpoint` cannot be the validating resolver of a check, or None when it validates
    DNSSEC (it sets the AD bit on its answer for the root zone)."""
    query = dns.message.make_query(".", "SOA", want_dnssec=True)
    query.flags |= dns.flags.AD
    try:
        response = exchange(query, endpoint, timeout)
    except ConnectionRefusedError:
        return f"resolver {endpoint} refused the query (nothing listens there)"
    except (dns.exception.DNSException, OSError) as exc:
        return f"no answer from resolver {endpoint}: {exc}"
    if response.rcode() != dns.rcode.NOERROR:
        rcode = dns.rcode.to_text(response.rcode())
        return f"resolver {endpoint} answered {rcode} for the root zone (is it a resolver?)"
    if not response.flags & dns.flags.AD:
        return f"resolver {endpoint} does not validate DNSSEC (no AD bit for the root zone)"
    return None


def _resolver_problems(settings: Settings) -> tuple[Problem, ...]:
    """The failure of a run whose resolver cannot tell senders' verdicts, if it cannot."""
    if settings.resolver is None:
        return ()
    why = resolver_problem(settings.resolver, settings.timeout)
    if why is None:
        return ()
    return (
        Problem(
            FAILURE,
            f"{why}: without a validating resolver, check cannot tell whether senders trust "
            "the records; give one with --resolver IP[:PORT] or [defaults] resolver",
        ),
    )


def _key_type(der: bytes) -> str:
    try:
        return describe_key(x509.load_der_x509_certificate(der).public_key(), "leaf")[0]
    except (ValueError, UnsupportedAlgorithm, InputError, x509.InvalidVersion):
        return "unknown key"


def _leaf_record(leaf: bytes) -> TLSAData:
    """The leaf's 3 1 1 record, to show what the live key is."""
    return TLSAData(3, 1, 1, digest(spki_of_certificate(leaf), MatchingType.SHA2_256))


def run_jobs(jobs: Iterable[Job], workers: int, progress: Progress | None = None) -> None:
    """Run jobs and the jobs they return, at most `workers` at a time.

    Worker threads take jobs from one queue and put the jobs that follow back on it, so a job
    costs the same however many are pending (waiting on a set of futures costs as many as the
    set holds, for every job that finishes). The first exception a job raises is raised here,
    once every other job has run.
    """
    queue: SimpleQueue[Job | None] = SimpleQueue()
    tally = _Tally(every_job=progress is not None)
    for job in jobs:
        tally.total += 1
        queue.put(job)
    if not tally.total:
        return
    threads = [
        threading.Thread(target=_work, args=(queue, tally), daemon=True)
        for _ in range(min(workers, tally.total))
    ]
    for thread in threads:
        thread.start()
    with tally.changed:
        while tally.done < tally.total:
            tally.changed.wait()
            if progress:
                progress(tally.done, tally.total)
    for _ in threads:
        queue.put(None)
    for thread in threads:
        thread.join()
    if tally.error is not None:
        raise tally.error


@dataclass
class _Tally:
    """Jobs queued and finished in one run_jobs call, and the first exception raised."""

    total: int = 0
    done: int = 0
    error: BaseException | None = None
    every_job: bool = False  # wake the waiting caller after every job (to report progress)
    changed: threading.Condition = field(default_factory=threading.Condition)


def _work(queue: SimpleQueue[Job | None], tally: _Tally) -> None:
    while (job := queue.get()) is not None:
        follow: list[Job] = []
        try:
            follow = job()
        except BaseException as exc:  # raised by run_jobs once every job has run
            with tally.changed:
                tally.error = tally.error or exc
        with tally.changed:
            tally.total += len(follow)
            tally.done += 1
            if tally.every_job or tally.done == tally.total:
                tally.changed.notify()
        for each in follow:
            queue.put(each)


def check(
    targets: Sequence[Target], settings: Settings, progress: Progress | None = None
) -> Report:
    """Check every target; the report holds every fact and problem found.

    A resolver that does not validate ends the run before any target is checked.
    """
    state = _Run(settings)
    reports = [TargetReport(target) for target in targets]
    general = _resolver_problems(settings)
    if general:
        return Report(tuple(reports), settings.resolver, general)
    try:
        run_jobs([partial(state.resolve_target, r) for r in reports], settings.workers, progress)
    except TlsagenError:
        raise
    except Exception as exc:  # a bug in one job: the others ran; report what they found
        log.debug("a check job failed", exc_info=exc)
        failed = f"{type(exc).__name__}: {escaped(str(exc))}"
        general = (
            Problem(
                INTERNAL,
                f"internal error in a check job ({failed}); what it would have found is missing "
                "from this report, the rest was checked; run again with --debug for the "
                "traceback and report it",
            ),
        )
    for report in reports:
        assess(report, settings)
    return Report(tuple(reports), settings.resolver, general)


def check_chain(
    chain: Sequence[bytes],
    source: str,
    target: Target,
    records: Iterable[TLSAData | Malformed] | None,
    settings: Settings,
) -> Report:
    """Offline: match a chain read from `source` against `records`, or those DNS holds."""
    state = _Run(settings)
    host = state.host(target.name, target)
    general = _resolver_problems(settings)
    if general:
        return Report((TargetReport(target),), settings.resolver, general)
    if records is None:
        state.lookup_tlsa(host)
    else:
        given = list(records)
        host.records = frozenset(r for r in given if isinstance(r, TLSAData))
        host.malformed = frozenset(r for r in given if isinstance(r, Malformed))
    served = Served(None, tuple(chain), "", "")
    host.probes = [AddressCheck(source, [state.live(host, served)])]
    report = TargetReport(target, hosts=[host])
    assess(report, settings)
    return Report((report,), settings.resolver)


# --- assessing -----------------------------------------------------------------------------------


class _Found(list[Problem]):
    def add(self, kind: str, text: str) -> None:
        self.append(Problem(kind, text))

    def lookup(self, answer: Answer) -> bool:
        """Add the problem of a bogus or failed lookup; whether there was one."""
        what = f"{answer.rdtype} lookup for {answer.name}"
        if answer.status == BOGUS:
            self.add(DNSSEC_BOGUS, f"{what} is bogus: {answer.detail}")
        elif answer.status == INDETERMINATE:
            self.add(FAILURE, f"{what} failed: {answer.detail}")
        return answer.status in (BOGUS, INDETERMINATE)


def assess(report: TargetReport, settings: Settings) -> None:
    """Fill in the problems of a collected target report."""
    found = _Found()
    mx, name = report.mx, report.target.name
    if mx is None or found.lookup(mx):
        pass
    elif mx.nxdomain:
        found.add(FAILURE, f"{name} does not exist (NXDOMAIN)")
    elif not mx.rrset:
        found.add(FAILURE, f"{name} has no MX records")
    elif not report.hosts:
        found.add(WARNING, f"{name} has a null MX (RFC 7505): it takes no mail")
    elif mx.status == INSECURE and any(h.dane for h in report.hosts):
        found.add(
            NOTE,
            f"the MX RRset of {name} is insecure: senders still use the TLSA records of its "
            "hosts (RFC 7672 §2.2.1) but cannot trust the MX set itself",
        )
    for host in report.hosts:
        host.problems = _assess_host(host, settings)
    if len({h.records for h in report.hosts}) > 1:
        listing = ", ".join(f"{h.host} {len(h.records)}" for h in report.hosts)
        found.add(NOTE, f"the MX hosts carry different TLSA RRsets (records: {listing})")
    report.problems = list(found)


def _assess_host(host: HostReport, settings: Settings) -> list[Problem]:
    found = _Found()
    _dns_problems(host, found)
    _server_problems(host, settings, found)
    _live_problems(host, found)
    if host.dane and not host.usable:
        found.add(
            WARNING,
            f"no TLSA record at {host.owner} is usable: DANE senders still require TLS but do "
            "not authenticate the server, and deliver (RFC 7672 §2.2)",
        )
    if host.dane:
        for text in policy.lint_rrset_size(host.owner.name, len(host.records)):
            found.add(WARNING, text)
        _record_notes(host, settings, found)
    return list(found)


def _dns_problems(host: HostReport, found: _Found) -> None:
    addresses = host.addresses or []
    failed = [answer for answer in addresses if found.lookup(answer)]
    if host.addresses is not None and not host.probes and not failed:
        found.add(FAILURE, f"{host.host} has no A or AAAA records")
    if host.dane and any(a.status == INSECURE for a in addresses):
        found.add(
            WARNING,
            f"the addresses of {host.host} are insecure: senders do not look up its TLSA "
            "records (RFC 7672 §2.2.2)",
        )
    owner, tlsa = host.owner.name, host.tlsa
    if tlsa is None or found.lookup(tlsa):
        return
    if tlsa.status == INSECURE:
        held = f"{len(host.records)} record(s) published, but " if host.records else ""
        found.add(WARNING, f"not DANE: {held}{owner} is insecure: {host.insecure_reason}")
    elif not host.records and not host.malformed:
        found.add(WARNING, f"not DANE: {owner} has no TLSA records (securely denied)")


def _server_problems(host: HostReport, settings: Settings, found: _Found) -> None:
    held = {}
    for view in host.servers:
        where = f"authoritative server {view.server}"
        if view.error:
            found.add(FAILURE, view.error)
            continue
        held[str(view.server)] = view.rrset
        if view.zone.ds_match is False:
            found.add(DNSSEC_BOGUS, f"{where}: no DNSKEY of {host.zone} matches a DS at its parent")
        if view.zone.dnskey is None:
            found.add(DNSSEC_BOGUS, f"{where} serves {host.zone} unsigned (no DNSKEY)")
        elif view.invalid:
            found.add(DNSSEC_BOGUS, f"{where}: {view.invalid}")
        if view.expires and view.rrset:
            ttl = view.rrset.ttl
            if view.expires < settings.now + timedelta(seconds=2 * ttl) + settings.sig_margin:
                found.add(
                    WARNING,
                    f"{where}: the TLSA RRSIG expires at {view.expires:%Y-%m-%d %H:%M} UTC, "
                    f"sooner than 2 x TTL ({ttl} s) + {settings.sig_margin}",
                )
    if len({(r.ttl, r.records) if r else None for r in held.values()}) > 1:
        listing = ", ".join(f"{s} {len(r.records) if r else 0}" for s, r in held.items())
        found.add(WARNING, f"the authoritative servers disagree on {host.owner} ({listing})")
    for server, names in host.denied_above.items():
        for name in names:
            found.add(
                WARNING,
                f"authoritative server {server} answers NXDOMAIN for {name}, above {host.owner}: "
                "resolvers that minimise query names (RFC 9156) stop there and find no TLSA "
                "records (RFC 8020); the server must answer NOERROR for this empty non-terminal",
            )


def _live_problems(host: HostReport, found: _Found) -> None:
    for check in host.probes:
        if check.error is not None:
            stop = " (DANE senders will not deliver)" if host.dane else ""
            found.add(FAILURE, f"{check.address} port {host.owner.port}: {check.error}{stop}")
        for live in check.live:
            unreadable = _unreadable(live.served.chain)
            if unreadable:
                found.add(WARNING, f"{check.address} {live.key_type}: {unreadable}")
            result = live.result
            if host.dane and host.usable and result is not None and result.matched is None:
                text = f"{check.address} {live.key_type}: the live key matches no record"
                found.add(MISMATCH, f"{text} at {host.owner}")


def _unreadable(chain: Sequence[bytes]) -> str | None:
    """Why a certificate the server sent cannot be parsed (an invalid version...), or None."""
    for depth, der in enumerate(chain):
        try:
            x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as exc:
            return f"the certificate it sent at depth {depth} cannot be read ({escaped(str(exc))})"
    return None


def _unexplained(record: TLSAData, host: HostReport, now: datetime) -> tuple[str, str]:
    """(kind, text) for a usable record that no live key matches: what the configuration and
    the state file say it is, if anything."""
    keys, text = host.keys, _short(record)
    if keys is None:
        return NOTE, f"{text} matches no key the server presents (a next key?)"
    memory = keys.memory or Memory()
    seen = memory.published.get(record)
    published = f", published {_ago(now - seen.since)}" if seen else ""
    roles = (
        ("next key", keys.nexts),
        ("staged certificate", (keys.staged,) if keys.staged else ()),
        ("configured current key, not live yet", keys.current),
    )
    for role, materials in roles:
        source = matches_key(record, materials)
        if source:
            return NOTE, f"{text}: {role} ({source}){published}"
    if keys.under_rollover and seen:
        ttl = max(keys.ttl, host.tlsa.rrset.ttl if host.tlsa and host.tlsa.rrset else 0)
        due = retire_gate(memory, ttl, now).opens
        when = f"at {due:%Y-%m-%d %H:%M:%S} UTC" if due else "once the server presents one key"
        return NOTE, f"{text}: retiring (a former key), removal due {when}"
    return (
        WARNING,
        f"{text} matches neither a live key nor any key the configuration or state file knows: "
        "stale? (publish removes it)",
    )


def _ago(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _short(record: TLSAData) -> str:
    return f"{record.params} {record.data.hex()[:16]}…"


def _record_notes(host: HostReport, settings: Settings, found: _Found) -> None:
    """Unusable records, records that match nothing deployed, and rollover readiness."""
    chains = [live.served.chain for check in host.probes for live in check.live]
    for bad in sorted(host.malformed):
        found.add(WARNING, f"{bad.text} is unusable: {bad.reason}")
    for record in sorted(host.records):
        why = unusable(record, host.smtp)
        if why:
            found.add(WARNING, f"{_short(record)} is unusable: {why}")
            continue
        alone = (match(chain, [record], host.host, host.smtp, settings.now) for chain in chains)
        if not chains or any(result.matched for result in alone):
            continue
        found.add(*_unexplained(record, host, settings.now))
    spki_ee = Counter(r.matching_type for r in host.records if (r.usage, r.selector) == (3, 1))
    if max(spki_ee.values(), default=0) < 2:
        found.add(
            NOTE,
            f"rollover: {host.owner} holds no second DANE-EE SPKI (3 1 x) record, so no next "
            "key is published; with dehydrated's roll key or acme.sh's KEY.next, publish it "
            "2 x TTL before the key changes; certbot never uses a next key: let tlsagen stage "
            "its renewals (deploy, docs/rollover.md)",
        )
