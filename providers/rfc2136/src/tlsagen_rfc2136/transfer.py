"""A TSIG-signed zone transfer (AXFR) that keeps only what tlsagen reads: TLSA and CNAME records
by name, and the zone's delegations. Every other record (RRSIG, NSEC, A, ...: most of a signed
zone) is stepped over in the wire, never parsed; every message's signature is still checked."""

from __future__ import annotations

import socket
import struct
import time
from collections import defaultdict
from collections.abc import Iterable
from time import monotonic

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TSIG
import dns.rrset
import dns.tsig

from tlsagen.provider import Endpoint, Owner, RRset
from tlsagen_rfc2136.wire import rrset_at

KEPT = (dns.rdatatype.TLSA, dns.rdatatype.CNAME)
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_QR = 0x8000


class TransferError(dns.exception.DNSException):
    """A transfer that cannot be read: not the answer asked for, malformed, or unsigned."""

    def __init__(self, text: str) -> None:
        super().__init__(text)  # type: ignore[no-untyped-call]


class Transfer:
    """What a zone transfer carried that tlsagen uses: the TLSA and CNAME records by name, and
    the names of the delegations in the zone (NS sets below its apex)."""

    def __init__(self, apex: dns.name.Name) -> None:
        self.apex = apex
        self.carried = 0  # records, of every type
        # by owner name, absolute and lowercase (as tlsagen's Owner holds it)
        self.by_name: dict[str, list[dns.rrset.RRset]] = defaultdict(list)
        self.cuts: set[str] = set()
        self.soas = 0  # an AXFR starts and ends with the SOA record
        self.serial: int | None = None  # the SOA serial of the zone transferred

    def delegates(self, host: str) -> bool:
        """Whether `host` lies at or under a delegation: in another zone than this one."""
        return any(under_name(host, cut) for cut in self.cuts)

    def rrsets(self, owners: Iterable[Owner]) -> dict[Owner, RRset]:
        found = (rrset_at(owner, self.by_name.get(owner.name, ())) for owner in owners)
        return {rrset.owner: rrset for rrset in found if rrset is not None}

    def _keep(self, name: dns.name.Name, rdtype: int, ttl: int, rdata: dns.rdata.Rdata) -> None:
        rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype))
        rrset.add(rdata, ttl)
        self.by_name[name.to_text().lower()].append(rrset)


def under_name(name: str, zone: str) -> bool:
    """Whether `name` is `zone` or below it (both absolute and lowercase, as in tlsagen)."""
    return zone == "." or name == zone or name.endswith("." + zone)


def _skip_name(wire: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name at `offset`."""
    while True:
        length = wire[offset]
        if length == 0:
            return offset + 1
        if length >= 0xC0:
            return offset + 2
        offset += length + 1


def _rdata(rdtype: int, wire: bytes, offset: int, length: int) -> dns.rdata.Rdata:
    """The record's rdata. TLSA's as generic rdata, its octets as sent: `to_rrset` reads those
    (and so takes a record dnspython refuses, as `tlsagen.net.dns.from_wire` keeps it)."""
    if rdtype == dns.rdatatype.TLSA:
        data = wire[offset : offset + length]
        return dns.rdata.GenericRdata(dns.rdataclass.IN, dns.rdatatype.TLSA, data)
    kind = dns.rdatatype.RdataType.make(rdtype)
    return dns.rdata.from_wire(dns.rdataclass.IN, kind, wire, offset, length)


class _Reader:
    """Reads the messages of one transfer, checking each one's TSIG in sequence (RFC 8945 5.3.1:
    the first and the last must be signed; those between may not be, and are then digested
    with the next signed one)."""

    def __init__(self, request: dns.message.Message, key: dns.tsig.Key, transfer: Transfer):
        self.request, self.key, self.transfer = request, key, transfer
        self.ctx: dns.tsig.HMACTSig | dns.tsig.GSSTSig | None = None
        self.signed_last = False

    def read(self, wire: bytes) -> None:
        ident, flags, questions, answers, authority, additional = _HEADER.unpack_from(wire)
        if ident != self.request.id or not flags & _QR:
            raise TransferError("an answer to another request")
        if flags & 0xF:
            raise TransferError(f"the server answered {dns.rcode.to_text(flags & 0xF)}")
        offset = _HEADER.size
        for _ in range(questions):
            offset = _skip_name(wire, offset) + 4
        for index in range(answers + authority + additional):
            start = offset
            offset = _skip_name(wire, offset)
            rdtype, _, ttl, length = _RR.unpack_from(wire, offset)
            offset += _RR.size
            if rdtype == dns.rdatatype.TSIG:
                if index != answers + authority + additional - 1:
                    raise TransferError("a TSIG record that is not the last")
                self._check(wire, start, offset, length)
            elif index < answers:
                self._record(wire, start, rdtype, ttl, offset, length)
            offset += length
        if offset != len(wire):
            raise TransferError("trailing octets")
        if self.signed_last is False:
            if self.ctx is None:
                raise TransferError("the first message of the transfer is unsigned")
            self.ctx.update(wire)  # type: ignore[no-untyped-call]

    def _record(self, wire: bytes, start: int, rdtype: int, ttl: int, at: int, size: int) -> None:
        transfer = self.transfer
        transfer.carried += 1
        if rdtype not in (*KEPT, dns.rdatatype.NS, dns.rdatatype.SOA):
            return
        name, _ = dns.name.from_wire(wire, start)
        if rdtype == dns.rdatatype.SOA:
            transfer.soas += 1
            soa = _rdata(rdtype, wire, at, size)
            assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
            transfer.serial = soa.serial
        elif rdtype == dns.rdatatype.NS:
            if name != transfer.apex:
                transfer.cuts.add(name.to_text().lower())
        else:
            transfer._keep(name, rdtype, ttl, _rdata(rdtype, wire, at, size))

    def _check(self, wire: bytes, start: int, at: int, size: int) -> None:
        owner, _ = dns.name.from_wire(wire, start)
        rdata = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, at, size)
        assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
        self.ctx = dns.tsig.validate(  # type: ignore[no-untyped-call]
            wire, self.key, owner, rdata, int(time.time()), self.request.mac, start, self.ctx, True
        )
        self.signed_last = True

    def message_done(self) -> None:
        self.signed_last = False


def transfer(
    zone: str, server: Endpoint, key: dns.tsig.Key, timeout: float, limit: int
) -> Transfer | None:
    """The zone's transfer from `server`, signed with `key`, within `timeout` seconds in all;
    None once it carries more than `limit` records. DNSException or OSError if it fails."""
    apex = dns.name.from_text(zone)
    request = dns.message.make_query(apex, dns.rdatatype.AXFR)
    request.use_tsig(key)
    wire = request.to_wire()
    found = Transfer(apex)
    reader = _Reader(request, key, found)
    deadline = monotonic() + timeout
    with socket.create_connection((server.host, server.port), timeout) as sock:
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        while found.soas < 2:
            size = int.from_bytes(_read(sock, 2, deadline), "big")
            reader.read(_read(sock, size, deadline))
            if found.soas >= 2 and not reader.signed_last:
                raise TransferError("the last message of the transfer is unsigned")
            reader.message_done()
            if found.carried > limit:
                return None
    return found


def _read(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        left = deadline - monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the server closed the connection during the transfer")
        data += chunk
    return data
