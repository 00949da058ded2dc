"""DNSSEC-aware lookups: through a validating resolver, and on each authoritative server directly.

Every resolver answer is classified (RFC 4035 §4.3): secure (AD set), insecure (no AD), bogus
(SERVFAIL with an EDE code 6-12, or SERVFAIL that a CD=1 retry answers), or indeterminate (no
usable answer). The per-server view validates RRSIGs locally with dns.dnssec.validate.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

import dns.dnssec
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from tlsagen.core.endpoint import Endpoint
from tlsagen.core.records import Owner, RRset
from tlsagen.core.text import escaped
from tlsagen.errors import ProviderError
from tlsagen.net.dns import ask, exchange, soa_serial, to_rrset

SECURE = "secure"
INSECURE = "insecure"
BOGUS = "bogus"
INDETERMINATE = "indeterminate"
BOGUS_EDE = range(6, 13)  # DNSSEC Bogus ... NSEC Missing (RFC 8914 §4)


@dataclass(frozen=True)
class Answer:
    """One classified answer from the validating resolver."""

    name: str
    rdtype: str
    status: str  # SECURE, INSECURE, BOGUS or INDETERMINATE
    rrset: dns.rrset.RRset | None = None  # the data of rdtype (after any CNAME), if any
    nxdomain: bool = False
    detail: str = ""  # why it is bogus or indeterminate
    zone: str | None = None  # the signer of the data, or the zone of a denial (with DO only)

    def values(self) -> list[str]:
        return sorted(rdata.to_text() for rdata in self.rrset) if self.rrset else []


def system_resolver() -> Endpoint:
    """The first nameserver of /etc/resolv.conf."""
    try:
        system = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        raise ProviderError(
            "no system resolver (/etc/resolv.conf has no nameserver); give --resolver IP[:PORT]"
        ) from None
    return Endpoint(str(system.nameservers[0]), system.port)


class Resolver:
    """Recursive queries with DO=1 to one validating resolver."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    def _send(self, name: str, rdtype: str, cd: bool, do: bool = False) -> dns.message.Message:
        """AD=1 asks for validation (RFC 6840 §5.7); DO=1 also brings the RRSIGs."""
        query = dns.message.make_query(name, rdtype, want_dnssec=do)
        query.flags |= dns.flags.AD | (dns.flags.CD if cd else 0)
        try:
            return exchange(query, self.endpoint, self.timeout)
        except (dns.exception.DNSException, OSError) as exc:
            raise ProviderError(str(exc) or type(exc).__name__) from None

    def query(self, name: str, rdtype: str, cd: bool = False, do: bool = False) -> Answer:
        """The classified answer; never raises for DNS or network failures."""
        try:
            response = self._send(name, rdtype, cd, do)
        except ProviderError as exc:
            detail = f"no answer from resolver {self.endpoint}: {exc}"
            return Answer(name, rdtype, INDETERMINATE, detail=detail)
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            secure = bool(response.flags & dns.flags.AD) and not cd
            return Answer(
                name,
                rdtype,
                SECURE if secure else INSECURE,
                _data(response, name, rdtype),
                nxdomain=rcode == dns.rcode.NXDOMAIN,
                zone=_zone(response, name),
            )
        if rcode != dns.rcode.SERVFAIL or cd:
            detail = f"resolver {self.endpoint} answered {dns.rcode.to_text(rcode)}"
            return Answer(name, rdtype, INDETERMINATE, detail=detail)
        errors = [e for e in response.extended_errors() if e.code in BOGUS_EDE]
        if errors:
            detail = "; ".join(_ede_text(e) for e in errors)
            return Answer(name, rdtype, BOGUS, detail=f"SERVFAIL with {detail}")
        retry = self.query(name, rdtype, cd=True)
        if retry.status != INDETERMINATE:
            detail = "SERVFAIL, but the data is there with checking disabled (CD=1)"
            return Answer(name, rdtype, BOGUS, retry.rrset, retry.nxdomain, detail)
        return Answer(name, rdtype, INDETERMINATE, detail=f"resolver {self.endpoint}: SERVFAIL")

    def zone_of(self, name: str) -> str | None:
        """The apex of the zone holding `name` (CD=1, so that bogus zones are found too)."""
        try:
            response = self._send(name, "SOA", cd=True)
        except ProviderError:
            return None
        owner = dns.name.from_text(name)
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA and owner.is_subdomain(rrset.name):
                    return str(rrset.name.to_text().lower())
        return None

    def nameservers(self, zone: str) -> tuple[Endpoint, ...]:
        """Port 53 on every address of every NS of `zone`."""
        servers = []
        for ns in self.query(zone, "NS", cd=True).values():
            for rdtype in ("A", "AAAA"):
                servers += [Endpoint(a) for a in self.query(ns, rdtype, cd=True).values()]
        return tuple(sorted(set(servers), key=str))

    def why_insecure(self, zone: str) -> str:
        """Why answers from `zone` are not validated: no DS, an unsigned zone, no validation."""
        if self.query(".", "SOA").status != SECURE:
            return f"resolver {self.endpoint} does not validate DNSSEC (no AD for the root zone)"
        ds = self.query(zone, "DS")
        signed = bool(self.query(zone, "DNSKEY", cd=True).rrset)
        state = "is signed" if signed else "is not signed (no DNSKEY)"
        if ds.status == SECURE and not ds.rrset:
            return f"{zone} has no DS at its parent (insecure delegation) and {state}"
        if ds.status == INSECURE:
            return f"the parent of {zone} is not signed or not validated, and {zone} {state}"
        return f"answers from {zone} are not validated ({zone} {state}; DS lookup {ds.status})"


def _data(response: dns.message.Message, name: str, rdtype: str) -> dns.rrset.RRset | None:
    """The `rdtype` RRset at `name`, or at the end of the CNAME chain the answer holds from
    `name`; records the answer holds for any other owner are not used."""
    wanted = dns.rdatatype.from_text(rdtype)
    owner = dns.name.from_text(name)
    at_owner = {(rrset.name, rrset.rdtype): rrset for rrset in response.answer}
    for _ in range(len(response.answer) + 1):  # a CNAME loop ends here
        found = at_owner.get((owner, wanted))
        alias = at_owner.get((owner, dns.rdatatype.CNAME))
        if found is not None or alias is None:
            return found
        owner = alias[0].target
    return None


def _zone(response: dns.message.Message, name: str) -> str | None:
    """The zone an answer came from: the signer of the RRSIG at `name`, or the SOA of a denial."""
    owner = dns.name.from_text(name)
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.RRSIG and rrset.name == owner:
            return str(rrset[0].signer.to_text().lower())
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and owner.is_subdomain(rrset.name):
            return str(rrset.name.to_text().lower())
    return None


def _ede_text(error: dns.edns.EDEOption) -> str:
    try:
        label = dns.edns.EDECode(error.code).name.replace("_", " ").title()
    except ValueError:
        label = "unknown"
    text = f": {escaped(error.text)}" if error.text else ""  # the resolver's words
    return f"EDE {error.code} ({label}{text})"


@dataclass(frozen=True)
class ZoneAt:
    """The zone's DNSKEY RRset as one authoritative server serves it, checked."""

    server: Endpoint
    name: str
    dnskey: dns.rrset.RRset | None = None  # None: the zone is not signed there
    serial: int | None = None
    invalid: str | None = None  # why the DNSKEY RRset does not validate
    ds_match: bool | None = None  # a DNSKEY matches a DS at the parent (None: no DS to check)
    error: str | None = None  # the server did not answer


def zone_at(
    server: Endpoint, zone: str, ds: dns.rrset.RRset | None, now: datetime, timeout: float
) -> ZoneAt:
    """Ask `server` directly (RD=0, DO=1) for the zone's DNSKEY and SOA; validate the keys."""
    try:
        keys = ask(server, zone, dns.rdatatype.DNSKEY, timeout, dnssec=True)
        serial = soa_serial(server, zone, timeout)
    except ProviderError as exc:
        return ZoneAt(server, zone, error=str(exc))
    name = dns.name.from_text(zone)
    dnskey = _find(keys, name, dns.rdatatype.DNSKEY)
    if dnskey is None:
        return ZoneAt(server, zone, serial=serial)
    sigs = _signatures(keys, dnskey)
    invalid = _invalid(dnskey, sigs, dnskey, now, f"the DNSKEY RRset of {zone}")
    ds_match = None if ds is None else _matches_ds(name, dnskey, ds)
    return ZoneAt(server, zone, dnskey, serial, invalid, ds_match)


@dataclass(frozen=True)
class ServerView:
    """What one authoritative server serves for a TLSA owner, with its signatures checked."""

    zone: ZoneAt
    rrset: RRset | None = None  # None: no TLSA at the owner (or the server failed)
    signed: bool = False  # an RRSIG came with the TLSA RRset
    invalid: str | None = None  # why the signatures do not validate
    expires: datetime | None = None  # earliest expiry of the TLSA RRSIGs
    error: str | None = None  # the server did not answer

    @property
    def server(self) -> Endpoint:
        return self.zone.server


def view_server(
    zone: ZoneAt,
    owner: Owner,
    now: datetime,
    timeout: float,
    validated: dict[Hashable, str | None] | None = None,
) -> ServerView:
    """Ask the server of `zone` directly (RD=0, DO=1) for the owner's TLSA; validate it.

    `validated` (shared by the views of a run) keeps what validating each distinct TLSA RRset,
    signatures and DNSKEY RRset found: the servers of a zone serve the same signed RRset, and
    checking the same signatures against the same keys again finds the same."""
    if zone.error:
        return ServerView(zone, error=zone.error)
    try:
        response = ask(zone.server, owner.name, dns.rdatatype.TLSA, timeout, dnssec=True)
    except ProviderError as exc:
        return ServerView(zone, error=str(exc))
    data = _find(response, dns.name.from_text(owner.name), dns.rdatatype.TLSA)
    if data is None:
        return ServerView(zone, invalid=zone.invalid)
    sigs = _signatures(response, data)
    invalid = zone.invalid
    if invalid is None and zone.dnskey is not None and sigs is not None:
        key = (data.name, frozenset(data), frozenset(sigs), frozenset(zone.dnskey))
        if validated is None or key not in validated:
            invalid = _invalid(data, sigs, zone.dnskey, now, "the TLSA RRset")
            if validated is not None:
                validated[key] = invalid
        else:
            invalid = validated[key]
    expires = min(sig.expiration for sig in sigs) if sigs else None
    return ServerView(
        zone,
        to_rrset(owner, data),
        signed=sigs is not None,
        invalid=invalid,
        expires=datetime.fromtimestamp(expires, now.tzinfo) if expires else None,
    )


def _invalid(
    rrset: dns.rrset.RRset,
    sigs: dns.rrset.RRset | None,
    dnskey: dns.rrset.RRset,
    now: datetime,
    what: str,
) -> str | None:
    """Why `rrset` does not validate against the zone's `dnskey`, or None."""
    if sigs is None:
        return f"{what} is not signed"
    try:
        dns.dnssec.validate(rrset, sigs, {dnskey.name: dnskey}, now=now.timestamp())
    except dns.exception.ValidationFailure as exc:
        return f"{what} does not validate against the zone's DNSKEY ({exc})"
    return None


def _find(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def _signatures(response: dns.message.Message, rrset: dns.rrset.RRset) -> dns.rrset.RRset | None:
    for sigs in response.answer:
        if (
            sigs.name == rrset.name
            and sigs.rdtype == dns.rdatatype.RRSIG
            and sigs.covers == rrset.rdtype
        ):
            return sigs
    return None


def _matches_ds(zone: dns.name.Name, dnskey: dns.rrset.RRset, ds: dns.rrset.RRset) -> bool:
    """Whether a DS at the parent is the digest of one of the zone's DNSKEYs."""
    for rdata in ds:
        for key in dnskey:
            try:
                if dns.dnssec.make_ds(zone, key, rdata.digest_type) == rdata:
                    return True
            except dns.exception.UnsupportedAlgorithm:
                continue
    return False
