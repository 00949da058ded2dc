"""The RFC 2136 provider: find zones, read TLSA RRsets, apply compare-and-swap UPDATEs."""

from __future__ import annotations

import functools
import logging
import math
import struct
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.tsig

from tlsagen.provider import (
    Change,
    ChangeSet,
    ConflictError,
    Endpoint,
    InputError,
    Malformed,
    Owner,
    ProviderError,
    RRset,
    TLSAData,
    TlsagenError,
    holds_every_after,
    settle_unanswered,
)
from tlsagen_rfc2136.config import Config
from tlsagen_rfc2136.transfer import Transfer, transfer, under_name
from tlsagen_rfc2136.transport import NoAnswer, exchange, query, rcode_error
from tlsagen_rfc2136.wire import build_update, rrset_at, split

log = logging.getLogger("tlsagen")

WORKERS = 16  # concurrent queries to one server
# Reading this many owners or more tries one AXFR first, and gives it up for queries once it has
# carried this many records per owner read: past that, queries cost less (docs/providers/rfc2136.md
# has the measurements).
AXFR_MIN_OWNERS = 100
AXFR_RECORDS_PER_OWNER = 10

T = TypeVar("T")
R = TypeVar("R")
Reads = Mapping[Owner, RRset]


def _parallel(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """function(item) for every item, concurrently; the first error stops the rest."""
    pool = ThreadPoolExecutor(min(WORKERS, len(items)) or 1)
    try:
        return list(pool.map(function, items))
    finally:
        pool.shutdown(cancel_futures=True)


class Rfc2136Provider:
    """Reads from and updates the zone's primary server, authenticated with a TSIG key."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._key = config.key.dns_key()
        self._primaries: dict[str, Endpoint] = {}
        self._servers: dict[str, tuple[Endpoint, ...]] = {}
        # records a zone's transfer carried (at least); infinite when the server refused it
        self._records: dict[str, float] = {}
        self._dnssec_checked: set[str] = set()
        # zone -> the server a read showed serving every change this provider last applied there
        self._confirmed: dict[str, Endpoint] = {}
        # zone -> the transfer `zones` made, for the next read of the zone (an apply drops it)
        self._fresh: dict[str, Transfer] = {}
        # zone -> the SOA serial its last transfer carried: the serial before an UPDATE after it
        self._serials: dict[str, int | None] = {}
        # seconds the primary took at least to sign one change of an UPDATE, as last seen
        self._signing = 0.0

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        zone = self.config.zone
        if zone is not None:
            for owner in owners:
                if not dns.name.from_text(owner.name).is_subdomain(dns.name.from_text(zone)):
                    raise InputError(f"{self.config.where} zone: {owner} is not in zone {zone}")
            return {owner: zone for owner in owners}
        found = self._find_zones(Counter(owner.host for owner in owners))
        return {owner: found[owner.host] for owner in owners}

    def _find_zones(self, owners_of: Mapping[str, int]) -> dict[str, str]:
        """The zone of each host (`owners_of`: how many owners each has), found once per zone:
        one host's SOA query names a zone, and when the hosts under it have owners enough for
        the read to transfer it, the transfer is made now (the next read of the zone takes it)
        and holds every other host under the zone but outside a delegation in it (an NS set
        below the apex: a child zone, here or elsewhere, that the next round finds). Hosts that
        no transfer covers are found by an SOA query each."""
        found: dict[str, str] = {}
        pending = sorted(owners_of, key=lambda host: (host.count("."), host))
        while pending:
            zone = self._zone_of(pending[0])
            found[pending[0]] = zone
            under = [host for host in pending[1:] if under_name(host, zone)]
            owners = sum(owners_of[host] for host in (pending[0], *under))
            transfer = None
            if under and owners >= AXFR_MIN_OWNERS:
                transfer = self._transfer(zone, AXFR_RECORDS_PER_OWNER * owners)
            if transfer is not None:
                self._fresh[zone] = transfer
                found.update({host: zone for host in under if not transfer.delegates(host)})
            else:
                found.update(zip(under, _parallel(self._zone_of, under), strict=True))
            pending = [host for host in pending if host not in found]
        return found

    def _zone_of(self, host: str) -> str:
        """Ask the configured server (its SOA answer names the zone), else walk up SOA queries."""
        if self.config.server is not None:
            response = query(host, dns.rdatatype.SOA, self.config.server, self.config.timeout)
            if response.flags & dns.flags.AA:
                for rrset in (*response.answer, *response.authority):
                    if rrset.rdtype == dns.rdatatype.SOA:
                        return rrset.name.to_text().lower()
        try:
            return dns.resolver.zone_for_name(host, resolver=self._resolver).to_text().lower()
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"cannot find the zone of {host} ({exc}); set 'zone' in {self.config.where}"
            ) from exc

    @functools.cached_property
    def _resolver(self) -> dns.resolver.Resolver:
        endpoint = self.config.resolver
        try:
            resolver = dns.resolver.Resolver(configure=endpoint is None)
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"no system resolver ({exc}); set 'resolver' in [defaults], or 'server', 'zone' "
                f"and 'nameservers' in {self.config.where}"
            ) from exc
        if endpoint is not None:
            resolver.nameservers = [endpoint.host]
            resolver.port = endpoint.port
        resolver.lifetime = self.config.timeout
        return resolver

    def _addresses(self, name: dns.name.Name | str) -> list[str]:
        """Every IPv4 and IPv6 address of `name`, through the resolver."""
        found = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            answer = self._resolver.resolve(name, rdtype, raise_on_no_answer=False)
            found += [rdata.address for rdata in answer.rrset or ()]
        return found

    def _primary(self, zone: str) -> Endpoint:
        """The configured server, else the address of the zone's SOA MNAME."""
        if self.config.server is not None:
            return self.config.server
        if zone not in self._primaries:
            try:
                mname = self._resolver.resolve(zone, dns.rdatatype.SOA)[0].mname
                addresses = self._addresses(mname)
            except dns.exception.DNSException as exc:
                raise ProviderError(
                    f"cannot find the primary of {zone} from its SOA ({exc}); set 'server' in "
                    f"{self.config.where}"
                ) from exc
            if not addresses:
                raise ProviderError(
                    f"the primary {mname} of {zone} (SOA MNAME) has no address; set 'server' in "
                    f"{self.config.where}"
                )
            self._primaries[zone] = Endpoint(addresses[0], self.config.port)
        return self._primaries[zone]

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        """One AXFR when reading many owners (if the server allows it, and it carries at most
        AXFR_RECORDS_PER_OWNER records for each), else one query each. A transfer `zones` just
        made answers the first read of the zone."""
        wanted = sorted(set(owners))
        transfer = self._fresh.pop(zone, None)
        if transfer is not None:
            return transfer.rrsets(wanted)
        server = self._primary(zone)
        self._check_signing(zone, server)
        limit = AXFR_RECORDS_PER_OWNER * len(wanted)
        if len(wanted) >= AXFR_MIN_OWNERS and self._records.get(zone, 0) <= limit:
            transfer = self._transfer(zone, limit)
            if transfer is not None:
                return transfer.rrsets(wanted)
        rrsets = _parallel(lambda owner: self._read_one(zone, owner, server), wanted)
        return {rrset.owner: rrset for rrset in rrsets if rrset is not None}

    def _check_signing(self, zone: str, server: Endpoint) -> None:
        """Warn, once per zone, when the primary holds no DNSKEY at the zone's apex (one signed
        query): DANE clients ignore the TLSA records of an unsigned zone. An answer that is not
        authoritative tells nothing; the reads that follow name that problem."""
        if zone in self._dnssec_checked:
            return
        self._dnssec_checked.add(zone)
        response = query(zone, dns.rdatatype.DNSKEY, server, self.config.timeout, self._key)
        if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA:
            return
        if not any(rrset.rdtype == dns.rdatatype.DNSKEY for rrset in response.answer):
            log.warning(
                "zone %s has no DNSKEY on its primary %s, so it is not DNSSEC-signed: TLSA in "
                "an unsigned zone does nothing; sign the zone (BIND: dnssec-policy; Knot: "
                "dnssec-signing) and add its DS record at the parent",
                zone,
                server,
            )

    def _read_one(self, zone: str, owner: Owner, server: Endpoint) -> RRset | None:
        response = query(owner.name, dns.rdatatype.TLSA, server, self.config.timeout, self._key)
        rcode = response.rcode()
        authoritative = response.flags & dns.flags.AA
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not authoritative:
            raise ProviderError(
                f"{server} gave no authoritative answer for {owner} ({dns.rcode.to_text(rcode)}): "
                f"'server' must be a primary server of {zone}"
            )
        return rrset_at(owner, response.answer)

    def _transfer(self, zone: str, limit: int) -> Transfer | None:
        """The zone's TLSA and CNAME records and its delegations, from one signed transfer from
        its primary; None if the server refuses it, or once it carries more than `limit`
        records (then queries cost less); either is remembered for the next read."""
        self._records[zone] = math.inf  # refused, unless the transfer tells more
        found = self._transfer_from(zone, self._primary(zone), limit)
        if found is not None:
            self._records[zone] = found.carried
            self._serials[zone] = found.serial
        return found

    def _transfer_from(self, zone: str, server: Endpoint, limit: int) -> Transfer | None:
        """`zone`'s transfer from `server`; None if it fails or carries over `limit` records
        (remembered as limit + 1, the least the zone holds)."""
        try:
            found = transfer(zone, server, self._key, self.config.timeout, limit)
        except (dns.exception.DNSException, OSError, EOFError, IndexError, struct.error) as exc:
            log.debug("AXFR of %s from %s failed (%s); reading by queries", zone, server, exc)
            return None
        if found is None:
            log.debug("the AXFR of %s is over %d records; reading by queries", zone, limit)
            self._records[zone] = limit + 1
        return found

    def served(
        self, zone: str, server: Endpoint, owners: Collection[Owner]
    ) -> Mapping[Owner, RRset] | None:
        """What `server` serves at `owners`, from one transfer signed with the key (the server
        must allow it: allow-transfer); None when it does not, and for fewer owners than make
        a transfer pay (`read`'s measure)."""
        limit = AXFR_RECORDS_PER_OWNER * len(owners)
        if len(owners) < AXFR_MIN_OWNERS or self._records.get(zone, 0) > limit:
            return None
        found = self._transfer_from(zone, server, limit)
        return None if found is None else found.rrsets(owners)

    def apply(self, changes: ChangeSet) -> None:
        """One UPDATE, or several when one would exceed 64 KiB: each of those is atomic alone,
        and sent once the primary serves the one before (its SOA serial moved). Then wait until
        a read shows the primary serving them all (see `_confirm`)."""
        if not changes.changes:
            return
        self._confirmed.pop(changes.zone, None)
        self._fresh.pop(changes.zone, None)
        server = self._primary(changes.zone)
        # Each UPDATE after the first is built and signed (TSIG) while the primary signs the one
        # before.
        groups = split(changes.changes)
        served = []
        serial = self._serials.pop(changes.zone, None)  # the zone's, at the last UPDATE or read
        builder = ThreadPoolExecutor(1)
        updates = builder.map(lambda group: _rendered(changes.zone, group, self._key), groups)
        try:
            for done, (group, update) in enumerate(zip(groups, updates, strict=True)):
                last = done == len(groups) - 1
                try:
                    confirmed, serial = self._apply_group(
                        changes.zone, update, group, server, changes.changes if last else (), serial
                    )
                    served.append(confirmed)
                except TlsagenError as exc:
                    if done:
                        exc.args = (
                            f"{exc} (this change set needed {len(groups)} UPDATEs to stay under "
                            f"64 KiB, and the first {done} of them were applied)",
                        )
                    raise
        finally:
            builder.shutdown(cancel_futures=True)
        if all(served):
            self._confirmed[changes.zone] = server

    def confirmed(self, zone: str) -> Endpoint | None:
        """The server a signed read showed serving every change the last `apply` to `zone` made
        (and, as read before, the rest of the zone's owners): no need to poll it for them."""
        return self._confirmed.get(zone)

    def _apply_group(
        self,
        zone: str,
        update: tuple[dns.message.Message, bytes],
        group: Sequence[Change],
        server: Endpoint,
        read_back: Sequence[Change],
        serial: int | None,
    ) -> tuple[bool, int | None]:
        """Send the UPDATE of `group` (and its wire); then wait until the primary's SOA serial
        moves from `serial` (the next UPDATE waits for that: BIND, signing inline, leaves an
        UPDATE sent while it signs the one before out of the signed zone) and a read shows it
        serving `read_back` (the last UPDATE's: every change of the set); whether it did, and at
        which serial."""
        if serial is None and not read_back:  # no read follows: `_confirm` needs the serial
            serial = self._serial(zone, server)  # before this UPDATE, to see it move
        try:
            response = self._send(zone, update[0], server, update[1])
        except NoAnswer as exc:  # maybe applied, maybe not: what DNS holds decides
            self._decide(zone, group, exc)
            return True, None
        if response.rcode() == dns.rcode.NOERROR:
            return self._confirm(zone, read_back, server, serial, len(group))
        if response.rcode() not in (dns.rcode.YXRRSET, dns.rcode.NXRRSET):
            raise rcode_error(response.rcode(), server, zone, self.config.key.name)
        current = self._read_until(zone, group, _settled)
        if holds_every_after(current, group):
            log.debug("%s already holds the change of %d owners", zone, len(group))
            return True, None
        names = _moved(current, group) or [change.owner for change in group]
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        raise ConflictError(
            f"{names[0]}{more} changed since it was read, so the UPDATE was not applied; run "
            "again to plan from what DNS holds now"
        )

    def _decide(self, zone: str, group: Sequence[Change], unanswered: NoAnswer) -> None:
        """After an UPDATE without an answer that tells: done when DNS holds every `after`."""
        owners = [change.owner for change in group]
        settle_unanswered(lambda: self.read(zone, owners), group, unanswered)
        log.warning("%s holds the change all the same", zone)

    def _serial(self, zone: str, server: Endpoint) -> int | None:
        """The SOA serial `server` serves for `zone` (a signed query); None when it cannot tell."""
        try:
            response = query(zone, dns.rdatatype.SOA, server, self.config.timeout, self._key)
        except ProviderError as exc:
            log.debug("no SOA serial of %s from %s (%s)", zone, server, exc)
            return None
        apex = dns.name.from_text(zone)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.SOA and rrset.name == apex:
                return int(rrset[0].serial)
        return None

    def _confirm(
        self,
        zone: str,
        changes: Sequence[Change],
        server: Endpoint,
        before: int | None,
        sent: int,
    ) -> tuple[bool, int | None]:
        """Whether the primary serves every `after`, waiting `timeout` at most, and the zone's
        SOA serial then. The owners are read each time the serial moves (from `before`, the
        serial the zone had before the UPDATE, if known; else at once), not on every poll: with
        inline signing (BIND) the signed zone lags an update, by a second for a large one, and
        a read of many owners is a zone transfer. No changes: only the serial is waited for.
        The first poll comes after the time the primary took at least, for an UPDATE before, to
        sign as many changes as the UPDATE `sent`. Only warns when it does not serve them (or
        they cannot be read): the change is applied, and publish checks every server after."""
        owners = [change.owner for change in changes]
        started = time.monotonic()
        deadline = started + self.config.timeout
        delay = 0.02
        seen = before
        unmoved: float | None = None  # when the last poll that showed the serial `before` was sent
        time.sleep(self._signing * sent)
        try:
            while True:
                asked = time.monotonic() - started
                serial = self._serial(zone, server)
                if serial is not None and serial == before:
                    unmoved = asked
                elif unmoved is not None and serial is not None and seen == before:
                    self._signing = unmoved / sent  # it signed between the two polls
                if serial is None or serial != seen:  # None: no serial tells, so read
                    seen = serial
                    if not changes or holds_every_after(self.read(zone, owners), changes):
                        return True, serial
                if time.monotonic() >= deadline:
                    break
                time.sleep(delay)
                delay = min(2 * delay, 0.5)
        except ProviderError as exc:
            log.warning(
                "%s accepted the UPDATE of %s, but reading it back failed: %s", server, zone, exc
            )
            return False, None
        log.warning(
            "%s accepted the UPDATE of %s but does not serve it after %g s",
            server,
            zone,
            self.config.timeout,
        )
        return False, None

    def _read_until(
        self, zone: str, group: Sequence[Change], done: Callable[[Reads, Sequence[Change]], bool]
    ) -> Reads:
        """Read the group's owners again until `done`, for `timeout` at most: with inline signing
        (BIND), the signed zone that answers reads lags an update, by a second for a large one."""
        owners = [change.owner for change in group]
        deadline = time.monotonic() + self.config.timeout
        delay = 0.01
        current = self.read(zone, owners)
        while not done(current, group) and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(2 * delay, 0.5)
            current = self.read(zone, owners)
        return current

    def _send(
        self, zone: str, update: dns.message.Message, server: Endpoint, wire: bytes | None = None
    ) -> dns.message.Message:
        """The answer (`wire`: the UPDATE rendered already). An UPDATE that gets no answer
        telling what the server did is sent once more (safe: its prerequisites; signed anew);
        NoAnswer when that gets none either."""
        try:
            return exchange(update, server, self.config.timeout, wire=wire)
        except NoAnswer as exc:
            log.warning("%s; sending the UPDATE again", exc)
        try:
            return exchange(update, server, self.config.timeout)
        except ProviderError as exc:
            raise NoAnswer(
                f"{server} gave no usable answer to the UPDATE of {zone}, sent twice ({exc})"
            ) from None

    def servers(self, zone: str) -> Sequence[Endpoint]:
        """The configured `nameservers`, else every address of every NS of the zone, port 53."""
        if self.config.nameservers:
            return self.config.nameservers
        if zone not in self._servers:
            self._servers[zone] = self._ns_addresses(zone)
        return self._servers[zone]

    def _ns_addresses(self, zone: str) -> tuple[Endpoint, ...]:
        try:
            names = sorted(rdata.target for rdata in self._resolver.resolve(zone, dns.rdatatype.NS))
            endpoints = [Endpoint(address) for name in names for address in self._addresses(name)]
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"cannot resolve the NS set of {zone} ({exc}); list the servers in 'nameservers'"
            ) from exc
        if not endpoints:
            raise ProviderError(f"the NS set of {zone} has no addresses; set 'nameservers'")
        return tuple(dict.fromkeys(endpoints))


def _rendered(
    zone: str, group: Sequence[Change], key: dns.tsig.Key
) -> tuple[dns.message.Message, bytes]:
    """The UPDATE of `group`, and its wire, signed with `key`."""
    update = build_update(zone, group, key)
    return update, update.to_wire()


def _moved(current: Reads, group: Sequence[Change]) -> list[Owner]:
    """The owners that no longer hold the records of their `before`."""
    return [c.owner for c in group if _records(current.get(c.owner)) != _records(c.before)]


def _settled(current: Reads, group: Sequence[Change]) -> bool:
    """Reads that agree with a failed prerequisite: every `after` is there, or a `before` gone."""
    return holds_every_after(current, group) or bool(_moved(current, group))


def _records(rrset: RRset | None) -> tuple[frozenset[TLSAData], frozenset[Malformed]]:
    return (rrset.records, rrset.malformed) if rrset else (frozenset(), frozenset())
