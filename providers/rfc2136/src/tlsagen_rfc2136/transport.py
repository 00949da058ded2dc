"""Signed DNS exchanges with one server, every failure explained: UPDATEs over TCP here; reads
(`query`) through tlsagen's shared query path (tlsagen.provider.exchange: UDP, TCP when
truncated, one deadline for both, late datagrams skipped), their TSIG failures explained here."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic  # not time.monotonic: tests fake `time` to skew the TSIG clock

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig

from tlsagen.provider import (
    Endpoint,
    OtherQuestion,
    ProviderError,
    ReplyError,
    ReplyTimeout,
    from_wire,
)
from tlsagen.provider import exchange as shared_exchange

log = logging.getLogger("tlsagen")

ATTEMPTS = 3  # of a query whose answer timed out
BACKOFF = 0.25  # seconds before the second attempt, doubling after
KNOT_ACL = "acl: action: update, update-type: [TLSA]"


class NoAnswer(ProviderError):
    """The server gave no answer that tells what it did: none, one cut short or malformed, or one
    that fails its TSIG check while claiming success. An UPDATE may have been applied."""


class ServerTimeout(NoAnswer):
    """The server did not answer in time."""


@contextmanager
def _talking_to(server: Endpoint, timeout: float, transport: str) -> Iterator[None]:
    """Socket errors as one-line ProviderErrors."""
    try:
        yield
    except TimeoutError:
        raise ServerTimeout(
            f"{server} did not answer within {timeout:g} s: is the DNS server running and "
            "reachable? (raise 'timeout' for a slow one)"
        ) from None
    except OSError as exc:
        raise ProviderError(
            f"cannot reach {server} over {transport} ({exc.strerror or exc}): is the DNS server "
            "running on that address and port?"
        ) from None


def exchange(
    request: dns.message.Message,
    server: Endpoint,
    timeout: float,
    deadline: float | None = None,
    wire: bytes | None = None,
) -> dns.message.Message:
    """The answer to `request` over TCP, within `timeout` seconds in all (or by `deadline`, on
    the monotonic clock); ProviderError if the server or TSIG fails. `wire`: the request as
    rendered (and signed) already."""
    if wire is None:
        wire = request.to_wire()  # signs a request that has a key, and sets request.mac
    deadline = monotonic() + timeout if deadline is None else deadline
    with (
        _talking_to(server, timeout, "TCP"),
        socket.create_connection((server.host, server.port), _remaining(deadline)) as sock,
    ):
        sock.settimeout(_remaining(deadline))  # sendall: one limit for the whole send
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        size = int.from_bytes(_read(sock, 2, deadline), "big")
        answer = _read(sock, size, deadline)
    if size < 12 or len(answer) < size:
        raise NoAnswer(f"{server} closed the connection before it answered in full")
    return _parse(request, answer, server)


def _remaining(deadline: float) -> float:
    """Seconds left until `deadline`; TimeoutError once it has passed."""
    left = deadline - monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _read(sock: socket.socket, size: int, deadline: float) -> bytes:
    """Up to `size` bytes, fewer if the server closes first; TimeoutError at `deadline`, however
    slowly the bytes trickle in."""
    data = b""
    while len(data) < size:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(min(size - len(data), 65536))
        if not chunk:
            break
        data += chunk
    return data


def _ask(request: dns.message.Message, server: Endpoint, timeout: float) -> dns.message.Message:
    """The answer to a read through the shared query path; its failures as ProviderErrors."""
    with _talking_to(server, timeout, "UDP"):
        try:
            return shared_exchange(request, server, timeout)
        except ReplyTimeout:
            raise TimeoutError from None
        except OtherQuestion:
            raise ProviderError(
                f"{server} answered another question than {request.question[0]}"
            ) from None
        except ReplyError as exc:
            if exc.wire is None:
                raise NoAnswer(f"{server} gave no usable answer: {exc}") from None
            raise _rejected(request, exc.wire, server, exc) from None


def _parse(request: dns.message.Message, answer: bytes, server: Endpoint) -> dns.message.Message:
    try:
        return from_wire(answer, keyring=request.keyring, request_mac=request.mac)
    except dns.exception.DNSException as exc:
        raise _rejected(request, answer, server, exc) from None


def query(
    name: str,
    rdtype: dns.rdatatype.RdataType,
    server: Endpoint,
    timeout: float,
    key: dns.tsig.Key | None = None,
) -> dns.message.Message:
    """A non-recursive query, tried again with backoff when it times out. Signed with `key`, if
    given: its answer must be signed too, and a key the server does not accept fails here."""
    request = dns.message.make_query(name, rdtype)
    request.flags &= ~dns.flags.RD
    if key is not None:
        request.use_tsig(key)
    for attempt in range(ATTEMPTS - 1):
        try:
            return _ask(request, server, timeout)
        except ServerTimeout:
            log.debug("%s did not answer %s %s; trying again", server, name, rdtype.name)
            time.sleep(BACKOFF * 2**attempt)
    return _ask(request, server, timeout)


def _rejected(
    request: dns.message.Message, answer: bytes, server: Endpoint, exc: Exception
) -> ProviderError:
    """Why an answer failed its TSIG check: read it unchecked for the TSIG error and rcode."""
    try:
        unchecked = from_wire(answer, keyring=False)
    except dns.exception.DNSException:
        unchecked = None
    key, algorithm = request.keyname, request.keyalgorithm
    if unchecked is None or key is None or algorithm is None:
        return NoAnswer(f"{server} sent a malformed answer ({exc})")
    zone = request.question[0].name  # the zone section of an UPDATE
    tsig = unchecked.tsig[0] if unchecked.tsig else None
    if tsig is not None and tsig.error == dns.rcode.BADSIG:
        return ProviderError(
            f"{server} rejected the signature of TSIG key {key} (BADSIG): the secret differs "
            "from the server's copy of the key"
        )
    if tsig is not None and tsig.error == dns.rcode.BADKEY:
        return ProviderError(
            f"{server} does not accept TSIG key {key} with {algorithm.to_text(True)} (BADKEY): "
            "check the key name and algorithm against the server's; Knot also answers so when "
            f"its ACL does not let this key update TLSA in {zone} ({KNOT_ACL})"
        )
    if tsig is not None and tsig.error == dns.rcode.BADTIME:
        return ProviderError(f"{server} rejected the TSIG time (BADTIME): {_skew(tsig.other)}")
    if unchecked.rcode() != dns.rcode.NOERROR and request.opcode() != dns.opcode.UPDATE:
        return ProviderError(
            f"{server} answered {dns.rcode.to_text(unchecked.rcode())} without a signature to "
            f"a query for {zone} signed with TSIG key {key}: check the key's name, algorithm "
            "and secret against the server's"
        )
    if unchecked.rcode() != dns.rcode.NOERROR:
        return rcode_error(unchecked.rcode(), server, zone.to_text(), key.to_text())
    return NoAnswer(
        f"the answer from {server} failed its TSIG check ({exc}): something on the path may "
        "alter DNS messages"
    )


def _skew(other: bytes) -> str:
    """What a BADTIME answer says about the clocks: its other data is the server's time."""
    if len(other) != 6:
        return "the clocks of this machine and the server differ by more than 5 minutes (use NTP)"
    offset = int.from_bytes(other, "big") - time.time()
    side = "behind" if offset > 0 else "ahead of"
    return f"this machine's clock is {abs(offset):.0f} s {side} the server's; synchronise it (NTP)"


def rcode_error(rcode: dns.rcode.Rcode, server: Endpoint, zone: str, key: str) -> ProviderError:
    """The error for an UPDATE the server answered with `rcode` (not a prerequisite failure)."""
    if rcode == dns.rcode.REFUSED:
        return ProviderError(
            f"{server} refused the update of {zone} by key {key} (REFUSED): its policy must let "
            f"this key update TLSA records, e.g. BIND: update-policy {{ grant {key} zonesub "
            f"TLSA; }}; Knot: {KNOT_ACL}"
        )
    if rcode == dns.rcode.NOTAUTH:
        return ProviderError(
            f"{server} answered NOTAUTH for {zone}: it is not the zone's primary (check 'zone' "
            f"and 'server'), or, on Knot, its ACL does not let key {key} update TLSA ({KNOT_ACL})"
        )
    if rcode == dns.rcode.NOTZONE:
        return ProviderError(
            f"{server}: a name is outside zone {zone} (NOTZONE); set 'zone' to the zone that "
            "holds the owners"
        )
    if rcode == dns.rcode.SERVFAIL:
        return ProviderError(
            f"{server} failed while it processed the update of {zone} (SERVFAIL); see its log"
        )
    return ProviderError(
        f"{server} answered {dns.rcode.to_text(rcode)} to the update of {zone}; see its log"
    )
