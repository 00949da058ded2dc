"""Direct queries to one authoritative server: a TLSA RRset, the SOA serial. Thin DNS edge."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from tlsagen.errors import ProviderError
from tlsagen.provider import Endpoint
from tlsagen.records import Owner, RRset, rrset
from tlsagen.tlsa import TLSAData


class AnswerError(ProviderError):
    """The server answered, with an error rcode (`rcode`: its name, e.g. "REFUSED")."""

    def __init__(self, message: str, rcode: str) -> None:
        super().__init__(message)
        self.rcode = rcode


def to_rrset(owner: Owner, answer: dns.rrset.RRset) -> RRset:
    """A tlsagen RRset from a dnspython TLSA rrset."""
    return rrset(
        owner,
        answer.ttl,
        (TLSAData(r.usage, r.selector, r.mtype, r.cert) for r in answer),
    )


def ask(
    server: Endpoint,
    name: str,
    rdtype: dns.rdatatype.RdataType,
    timeout: float,
    dnssec: bool = False,
) -> dns.message.Message:
    """One non-recursive query over UDP (TCP when truncated); ProviderError when it fails.

    With `dnssec`, the DO bit asks for the RRSIGs too. A late answer to an earlier query that
    lands on the same source port (a server that was paused, a NAT) is skipped, not taken for
    this one's failure.
    """
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    query.flags &= ~dns.flags.RD
    try:
        response, _ = dns.query.udp_with_fallback(
            query, server.host, timeout, server.port, ignore_unexpected=True, ignore_errors=True
        )
    except (dns.exception.DNSException, OSError) as exc:
        raise ProviderError(
            f"server {server} did not answer for {name} {rdtype.name}: {exc}"
        ) from None
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        rcode = dns.rcode.to_text(response.rcode())
        raise AnswerError(f"server {server} answered {rcode} for {name} {rdtype.name}", rcode)
    return response


def tlsa_at(server: Endpoint, owner: Owner, timeout: float = 3.0) -> RRset | None:
    """The TLSA RRset `server` serves for `owner` (None when it has none)."""
    return tlsa_answer(server, owner, timeout)[0]


def tlsa_answer(server: Endpoint, owner: Owner, timeout: float = 3.0) -> tuple[RRset | None, str]:
    """The TLSA RRset `server` serves for `owner` (None when it has none), and the rcode of the
    answer (NOERROR or NXDOMAIN; others raise AnswerError)."""
    response = ask(server, owner.name, dns.rdatatype.TLSA, timeout)
    rcode = dns.rcode.to_text(response.rcode())
    name = dns.name.from_text(owner.name)
    for answer in response.answer:
        if answer.name == name and answer.rdtype == dns.rdatatype.TLSA:
            return to_rrset(owner, answer), rcode
    return None, rcode


def soa_serial(server: Endpoint, zone: str, timeout: float = 3.0) -> int | None:
    response = ask(server, zone, dns.rdatatype.SOA, timeout)
    for answer in response.answer:
        if answer.rdtype == dns.rdatatype.SOA:
            return int(answer[0].serial)
    return None
