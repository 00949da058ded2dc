"""A DNS proxy on loopback that forwards to a real server and injects faults, for the fault tests.

Each request (UDP or TCP) is matched against `rules` in order; the first rule that matches decides
what the proxy does with it, and a request no rule matches is forwarded unchanged, so TSIG
signatures stay valid both ways. A rule can let the real server act on the request first (an
UPDATE is then applied) and spoil only its answer. One answer per request: no zone transfers.
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import dns.flags
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype

from .model import Server
from .ports import stable_port

# What a rule does with a request it matches.
HANG = "hang"  # never answer (a TCP connection stays open)
SLOW = "slow"  # answer after `delay` seconds
GARBAGE = "garbage"  # answer with a header that promises records that are not there
TRUNCATED = "truncated"  # UDP: an empty answer with TC set; TCP: half the answer, then close
WRONG_ID = "wrong-id"  # the server's answer under another message id
RCODE = "rcode"  # an answer with `rcode` and nothing else (unsigned, not authoritative)
EMPTY = "empty"  # an authoritative answer without records (a server that lags behind)
DOWN = "down"  # stop listening and drop every connection, without answering
ACTIONS = (HANG, SLOW, GARBAGE, TRUNCATED, WRONG_ID, RCODE, EMPTY, DOWN)
UPSTREAM_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    transport: str  # "udp" or "tcp"
    wire: bytes
    opcode: int
    qname: dns.name.Name
    qtype: int  # for an UPDATE, SOA: its zone section

    @classmethod
    def parse(cls, transport: str, wire: bytes) -> "Request":
        qname, used = dns.name.from_wire(wire, 12)
        qtype = int.from_bytes(wire[12 + used : 14 + used], "big")
        return cls(transport, wire, dns.opcode.from_flags(wire[2] << 8), qname, qtype)

    @property
    def question(self) -> bytes:
        """The question (or zone) section, as sent."""
        _, used = dns.name.from_wire(self.wire, 12)
        return self.wire[12 : 12 + used + 4]


@dataclass(frozen=True)
class Rule:
    """Which requests to spoil, and how; unset conditions match every request."""

    action: str
    opcode: int | None = None  # dns.opcode.QUERY or dns.opcode.UPDATE
    qtype: str | None = None  # "SOA", "TLSA", ...
    transport: str | None = None
    after_update: bool | None = None  # only before (False) or after (True) an UPDATE was seen
    forward_first: bool = False  # the server acts on the request; only its answer is spoiled
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR  # for RCODE
    delay: float = 0.0  # for SLOW

    def __post_init__(self) -> None:
        assert self.action in ACTIONS, self.action

    def matches(self, request: Request, updates_seen: int) -> bool:
        return (
            (self.opcode is None or request.opcode == self.opcode)
            and (self.qtype is None or request.qtype == dns.rdatatype.from_text(self.qtype))
            and (self.transport is None or request.transport == self.transport)
            and (self.after_update is None or self.after_update == (updates_seen > 0))
        )


def _header(request: Request, flags: int, rcode: int = dns.rcode.NOERROR) -> bytes:
    """An answer of the question alone, with `flags` (QR added) and `rcode`."""
    flags |= dns.flags.QR | dns.opcode.to_flags(dns.opcode.Opcode(request.opcode)) | rcode
    return request.wire[:2] + flags.to_bytes(2, "big") + b"\0\1\0\0\0\0\0\0" + request.question


def _other_id(answer: bytes) -> bytes:
    """`answer` under the next message id."""
    return ((int.from_bytes(answer[:2], "big") + 1) % 65536).to_bytes(2, "big") + answer[2:]


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_message(sock: socket.socket) -> bytes | None:
    """One length-prefixed DNS message from a TCP stream; None at its end."""
    prefix = _read_exactly(sock, 2)
    return None if prefix is None else _read_exactly(sock, int.from_bytes(prefix, "big"))


class FaultyDns:
    """The proxy: listens on a free loopback port (UDP and TCP) until `close`."""

    def __init__(self, upstream: Server) -> None:
        self.upstream = upstream
        self.port = stable_port()
        self.rules: list[Rule] = []
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listening = False
        self._listen()

    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spoil(self, *rules: Rule) -> None:
        """Apply `rules` from now on, counting requests (and UPDATEs seen) from zero."""
        with self._lock:
            self.rules = list(rules)
            self.seen = []

    def heal(self) -> None:
        """Forward everything again, listening again if a DOWN rule stopped the proxy."""
        self.spoil()
        if not self._listening:
            self._listen()

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets, self._listening = self._sockets, [], False
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # --- listening -------------------------------------------------------------------------------

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _listen(self) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.bind(("127.0.0.1", self.port))
        tcp.bind(("127.0.0.1", self.port))
        tcp.listen(64)
        for sock in (udp, tcp):
            self._track(sock)
        self._listening = True
        threading.Thread(target=self._serve_udp, args=(udp,), daemon=True).start()
        threading.Thread(target=self._serve_tcp, args=(tcp,), daemon=True).start()

    def _serve_udp(self, sock: socket.socket) -> None:
        while True:
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                return
            if not wire:  # shut down by `close`
                return
            threading.Thread(target=self._answer_udp, args=(sock, wire, peer), daemon=True).start()

    def _answer_udp(self, sock: socket.socket, wire: bytes, peer: tuple[str, int]) -> None:
        request = Request.parse("udp", wire)
        answer, _ = self._handle(request)
        if answer is not None:
            with suppress(OSError):
                sock.sendto(answer, peer)

    def _serve_tcp(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self._track(conn)
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            while (wire := _read_message(conn)) is not None:
                answer, whole = self._handle(Request.parse("tcp", wire))
                if answer is None:
                    while conn.recv(4096):  # hang: until the client gives up
                        pass
                    return
                cut = len(answer) if whole else len(answer) // 2
                conn.sendall(len(answer).to_bytes(2, "big") + answer[:cut])
                if not whole:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                if conn in self._sockets:
                    self._sockets.remove(conn)
            conn.close()

    # --- faults ----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> tuple[bytes | None, bool]:
        """The answer to send (None: none) and whether to send it whole."""
        with self._lock:
            updates = sum(r.opcode == dns.opcode.UPDATE for r in self.seen)
            self.seen.append(request)
        rule = next((r for r in self.rules if r.matches(request, updates)), None)
        if rule is None:
            return self._forward(request), True
        answer = self._forward(request) if rule.forward_first else None
        action = rule.action
        if action == DOWN:
            self.close()
            return None, True
        if action == HANG:
            return None, True
        if action == SLOW:
            time.sleep(rule.delay)
            return answer or self._forward(request), True
        if action == GARBAGE:
            return request.wire[:2] + b"\x84\x00\x00\x01\x00\x09\x00\x00\x00\x00\xff\xff", True
        if action == TRUNCATED and request.transport == "udp":
            return _header(request, dns.flags.TC), True
        if action == TRUNCATED:
            return answer or _header(request, dns.flags.AA), False
        if action == WRONG_ID:
            real = answer or self._forward(request)
            return (_other_id(real) if real else None), True
        if action == EMPTY:
            return _header(request, dns.flags.AA), True
        return _header(request, 0, rule.rcode), True  # RCODE

    def _forward(self, request: Request) -> bytes | None:
        """The real server's answer, over the same transport; None when it gives none."""
        upstream = (self.upstream.host, self.upstream.port)
        try:
            if request.transport == "udp":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(UPSTREAM_TIMEOUT)
                    sock.sendto(request.wire, upstream)
                    return sock.recv(65535)
            with socket.create_connection(upstream, timeout=UPSTREAM_TIMEOUT) as sock:
                sock.sendall(len(request.wire).to_bytes(2, "big") + request.wire)
                return _read_message(sock)
        except OSError:
            return None


@contextmanager
def faulty(upstream: Server) -> Iterator[FaultyDns]:
    """A FaultyDns in front of `upstream`, closed when the block ends."""
    proxy = FaultyDns(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
