"""Direct queries to one authoritative server: a TLSA RRset, the SOA serial. Thin DNS edge."""

from __future__ import annotations

import time

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
        response = udp_then_tcp(query, server, timeout)
    except ProviderError as exc:
        raise ProviderError(
            f"server {server} did not answer for {name} {rdtype.name}: {exc}"
        ) from None
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise ProviderError(
            f"server {server} answered {dns.rcode.to_text(response.rcode())} "
            f"for {name} {rdtype.name}"
        )
    return response


def udp_then_tcp(
    query: dns.message.Message, server: Endpoint, timeout: float
) -> dns.message.Message:
    """The answer over UDP, over TCP when it comes truncated; `timeout` bounds the two together
    (dnspython's udp_with_fallback gives each its own). Every failure is a ProviderError, a TCP
    connection closed without an answer (BIND and Unbound at their TCP client limit) included.
    """
    deadline = time.monotonic() + timeout
    try:
        try:
            return dns.query.udp(
                query,
                server.host,
                timeout,
                server.port,
                ignore_unexpected=True,
                ignore_errors=True,
                raise_on_truncation=True,
            )
        except dns.message.Truncated:
            pass
        return dns.query.tcp(query, server.host, max(deadline - time.monotonic(), 0), server.port)
    except EOFError:
        raise ProviderError(
            "it closed the TCP connection without an answer (at its TCP client limit?)"
        ) from None
    except OSError as exc:
        raise ProviderError(exc.strerror or str(exc)) from None
    except dns.exception.DNSException as exc:
        raise ProviderError(str(exc) or type(exc).__name__) from None


def tlsa_at(server: Endpoint, owner: Owner, timeout: float = 3.0) -> RRset | None:
    """The TLSA RRset `server` serves for `owner` (None when it has none)."""
    response = ask(server, owner.name, dns.rdatatype.TLSA, timeout)
    name = dns.name.from_text(owner.name)
    for answer in response.answer:
        if answer.name == name and answer.rdtype == dns.rdatatype.TLSA:
            return to_rrset(owner, answer)
    return None


def soa_serial(server: Endpoint, zone: str, timeout: float = 3.0) -> int | None:
    response = ask(server, zone, dns.rdatatype.SOA, timeout)
    apex = dns.name.from_text(zone)
    for answer in response.answer:
        if answer.rdtype == dns.rdatatype.SOA and answer.name == apex:
            return int(answer[0].serial)
    return None
