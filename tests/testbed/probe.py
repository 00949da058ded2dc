"""DNS queries to the lab's servers, for readiness probes and tests."""

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .model import Server

PROBE_TIMEOUT = 0.2


def query(
    server: Server, name: str, rdtype: str, *, recurse: bool = False, timeout: float = 2.0
) -> dns.message.Message:
    """Ask server for name/rdtype with the DO bit set (and RD when recurse); TCP if truncated."""
    request = dns.message.make_query(name, rdtype, want_dnssec=True)
    if not recurse:
        request.flags &= ~dns.flags.RD
    response, _ = dns.query.udp_with_fallback(
        request,
        server.host,
        port=server.port,
        timeout=timeout,
        ignore_unexpected=True,
        ignore_errors=True,
    )
    return response


def signed_dnskeys(server: Server, zone: str) -> dns.rrset.RRset | None:
    """The zone's DNSKEY RRset if the server serves it signed, else None (a readiness probe)."""
    response = query(server, zone, "DNSKEY", timeout=PROBE_TIMEOUT)
    if response.rcode() != dns.rcode.NOERROR:
        return None
    types = {rrset.rdtype for rrset in response.answer}
    if not {dns.rdatatype.DNSKEY, dns.rdatatype.RRSIG} <= types:
        return None
    return response.find_rrset(
        response.answer, dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.DNSKEY
    )


def serves_soa(server: Server, zone: str) -> bool | None:
    """True once the server answers the zone's SOA (a readiness probe)."""
    response = query(server, zone, "SOA", timeout=PROBE_TIMEOUT)
    return True if response.rcode() == dns.rcode.NOERROR and response.answer else None
