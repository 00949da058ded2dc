"""Direct queries to one authoritative server: a TLSA RRset, the SOA serial. Thin DNS edge.

Replies are read with `from_wire`, which keeps the TLSA records dnspython refuses (rdata under 3
octets, a digest whose length does not fit its matching type) as opaque rdata instead of failing
the whole reply: DNS may hold such records, and a sender treats them as unusable and goes on with
the others (RFC 7671, RFC 7672 §2.2). The one pair of conversions between tlsagen's records and
dnspython's lives here: `to_rrset` turns a dnspython rrset into TLSAData and Malformed, `to_rdatas`
turns an RRset back into rdata exactly as the server holds it.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.wire

from tlsagen.core.endpoint import Endpoint
from tlsagen.core.records import Malformed, Owner, RRset, generic_octets
from tlsagen.core.tlsa import TLSAData
from tlsagen.errors import ProviderError

_SECTIONS = (
    dns.message.MessageSection.ANSWER,
    dns.message.MessageSection.AUTHORITY,
    dns.message.MessageSection.ADDITIONAL,
)


class ReplyError(dns.exception.DNSException):
    """No readable reply to a query: none came in time, or the one that came cannot be read
    (`wire`: that reply, for a caller that explains it, e.g. by its TSIG error)."""

    def __init__(self, text: str, wire: bytes | None = None) -> None:
        super().__init__(text)  # type: ignore[no-untyped-call]
        self.wire = wire


class ReplyTimeout(ReplyError):
    """No reply, or no complete one, came in time."""


class OtherQuestion(ReplyError):
    """A reply with the query's id to another question: a late answer to an earlier query that
    drew the same id, or a spoofer. Skipped, signed or not: the reply may still come."""


@dataclass(frozen=True)
class _Refused:
    """A TLSA record of a reply that dnspython refuses to parse, and the error it raises."""

    section: dns.message.MessageSection
    name: dns.name.Name
    rdclass: dns.rdataclass.RdataClass
    ttl: int
    data: bytes
    error: str


def from_wire(wire: bytes, **kwargs: Any) -> dns.message.Message:
    """`dns.message.from_wire(wire, **kwargs)`, except that a TLSA record dnspython refuses is
    kept as generic rdata of type TLSA (its bytes as sent) instead of failing the message.

    Every other error still raises, as dnspython raises it, including a TSIG that does not verify
    (its MAC covers the wire as received, which is left untouched). Thread-safe: dnspython's type
    registry is not touched.
    """
    try:
        return dns.message.from_wire(wire, **kwargs)
    except dns.exception.FormError:
        refused = _refused_tlsa(wire)
        if not refused:
            raise
    message = dns.message.from_wire(wire, **{**kwargs, "continue_on_error": True})
    unexplained = Counter(_error_text(e.exception) for e in message.errors)
    unexplained.subtract(r.error for r in refused)
    for error in message.errors:
        if unexplained[_error_text(error.exception)] > 0:
            raise error.exception
    for record in refused:
        section = message.section_from_number(record.section)
        rrset = message.find_rrset(
            section, record.name, record.rdclass, dns.rdatatype.TLSA, create=True
        )
        generic = dns.rdata.GenericRdata(record.rdclass, dns.rdatatype.TLSA, record.data)
        rrset.add(generic, record.ttl if record.ttl <= 0x7FFFFFFF else 0)
    message.errors = []
    return message


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _refused_tlsa(wire: bytes) -> list[_Refused]:
    """The TLSA records of `wire` that dnspython refuses; none when the message itself is broken."""
    parser = dns.wire.Parser(wire)
    found = []
    try:
        counts = parser.get_struct("!HHHHHH")[2:]
        for _ in range(counts[0]):
            parser.get_name(decompress=True)
            parser.get_struct("!HH")
        for section, count in zip(_SECTIONS, counts[1:], strict=True):
            for _ in range(count):
                name = parser.get_name(decompress=True)
                rdtype, rdclass, ttl, rdlen = parser.get_struct("!HHIH")
                start = parser.current
                if rdtype == dns.rdatatype.TLSA:
                    try:
                        with parser.restrict_to(rdlen):
                            dns.rdata.from_wire_parser(rdclass, rdtype, parser)
                    except dns.exception.FormError as exc:
                        data = wire[start : start + rdlen]
                        found.append(_Refused(section, name, rdclass, ttl, data, _error_text(exc)))
                parser.seek(start + rdlen)
    except dns.exception.FormError:
        return []
    return found


class AnswerError(ProviderError):
    """The server answered, with an error rcode (`rcode`: its name, e.g. "REFUSED")."""

    def __init__(self, message: str, rcode: str) -> None:
        super().__init__(message)
        self.rcode = rcode


def to_rrset(owner: Owner, answer: dns.rrset.RRset) -> RRset:
    """A tlsagen RRset from a TLSA rrset read with `from_wire`: TLSAData for every record of at
    least 3 octets (whatever its fields and length: `verify` judges those), Malformed for the
    others."""
    records, malformed = [], []
    for rdata in answer:
        data = rdata.to_wire()
        if len(data) >= 3:
            records.append(TLSAData(data[0], data[1], data[2], data[3:]))
        else:
            malformed.append(
                Malformed(
                    f"\\# {len(data)} {data.hex()}".rstrip(),
                    f"{len(data)} octet(s) of data: a TLSA record needs at least 3 "
                    "(usage, selector, matching type)",
                )
            )
    return RRset(owner, answer.ttl, frozenset(records), frozenset(malformed))


def to_rdatas(rrset: RRset) -> list[dns.rdata.Rdata]:
    """The records of `rrset` (TLSA data, then Malformed, each sorted) as dnspython rdata, octet
    for octet as the server holds them: generic rdata of type TLSA for what dnspython refuses (a
    digest of the wrong length, under 3 octets), so that a prerequisite can repeat it.
    ProviderError for a Malformed record that is not in the generic form `\\# LENGTH HEX`."""
    items: list[TLSAData | Malformed] = [*sorted(rrset.records), *sorted(rrset.malformed)]
    return [_rdata(rrset.owner, item) for item in items]


def _rdata(owner: Owner, item: TLSAData | Malformed) -> dns.rdata.Rdata:
    if isinstance(item, TLSAData):
        wire = item.to_wire()
    else:
        try:
            wire = generic_octets(item.text)
        except ValueError as exc:
            raise ProviderError(
                f"{owner}: cannot send the record '{item.text}' back: {exc}"
            ) from None
    try:
        return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TLSA, wire, 0, len(wire))
    except dns.exception.FormError:
        return dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, wire)


def exchange(query: dns.message.Message, server: Endpoint, timeout: float) -> dns.message.Message:
    """Send `query` over UDP, over TCP when the reply is truncated; the reply, read by `from_wire`
    (a TSIG-signed query gets its reply verified).

    A datagram that is not the reply (another id, not parseable, another question: a late answer
    to an earlier query, a spoofer) is skipped; when no reply came in `timeout` seconds and one of
    the skipped ones had the query's id but could not be read, that error is raised rather than
    a bare timeout. A signed query's reply is judged by its signature instead: the first datagram
    with the query's id that cannot be read (a TSIG error such as BADKEY, an unsigned answer)
    ends the exchange at once, its bytes on the ReplyError.
    """
    wire = query.to_wire()
    deadline = time.monotonic() + timeout
    unreadable: ReplyError | None = None
    with socket.socket(dns.inet.af_for_address(server.host), socket.SOCK_DGRAM) as sock:
        sock.connect((server.host, server.port))  # the kernel drops datagrams from elsewhere
        sock.send(wire)
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                reply = sock.recv(65535)
            except TimeoutError:
                raise unreadable or ReplyTimeout(f"no reply within {timeout:g} s") from None
            if len(reply) < 12 or reply[:2] != wire[:2]:
                continue
            if reply[2] & 0x02:  # TC: the full reply needs TCP (RFC 7766)
                return _exchange_tcp(query, server, deadline)
            try:
                response = _read_reply(query, reply)
            except ReplyError as exc:
                if query.had_tsig and not isinstance(exc, OtherQuestion):
                    raise
                unreadable = type(exc)(f"its reply cannot be read: {exc}", reply)
                continue
            return response


def exchange_tcp(
    query: dns.message.Message, server: Endpoint, timeout: float
) -> dns.message.Message:
    """Send `query` over TCP; the reply, read by `from_wire` (see `exchange`). `timeout` bounds
    the whole exchange, however slowly the server sends its bytes."""
    return _exchange_tcp(query, server, time.monotonic() + timeout)


def _exchange_tcp(
    query: dns.message.Message, server: Endpoint, deadline: float
) -> dns.message.Message:
    wire = query.to_wire()
    with socket.create_connection((server.host, server.port), timeout=_left(deadline)) as sock:
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        size = int.from_bytes(_read_exactly(sock, 2, deadline), "big")
        return _read_reply(query, _read_exactly(sock, size, deadline))


def _left(deadline: float) -> float:
    """The seconds left before `deadline`; a timeout once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ReplyTimeout("no reply in time")
    return left


def _read_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        sock.settimeout(_left(deadline))
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError:
            raise ReplyTimeout("no complete reply in time") from None
        if not chunk:
            raise ReplyError(
                "it closed the TCP connection without an answer (at its TCP client limit?)"
            )
        data += chunk
    return data


def _read_reply(query: dns.message.Message, wire: bytes) -> dns.message.Message:
    try:
        response = from_wire(wire, keyring=query.keyring, request_mac=query.mac)
    except dns.exception.DNSException as exc:
        raise ReplyError(str(exc), wire) from exc
    if not query.is_response(response):
        raise OtherQuestion("the reply does not answer the query", wire)
    return response


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
    this one's failure (see `exchange`).
    """
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    query.flags &= ~dns.flags.RD
    try:
        response = exchange(query, server, timeout)
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
    apex = dns.name.from_text(zone)
    for answer in response.answer:
        if answer.rdtype == dns.rdatatype.SOA and answer.name == apex:
            return int(answer[0].serial)
    return None
