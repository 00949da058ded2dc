"""What the benchmarks measure: the DNS messages this process sends (at the socket level), wall
time, and peak memory (tracemalloc's, and the process's maximum resident set)."""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name
import dns.opcode
import dns.rdatatype

MIB = 1024 * 1024


def _kind(data: bytes, stream: bool) -> str | None:
    """ "UPDATE", or the type of the question ("TLSA", "SOA", "AXFR", ...); None: not DNS."""
    if stream:
        if len(data) < 2 or int.from_bytes(data[:2], "big") != len(data) - 2:
            return None
        data = data[2:]
    if len(data) < 17 or data[4:6] != b"\0\1":  # one question (or zone)
        return None
    if dns.opcode.from_flags(data[2] << 8) == dns.opcode.UPDATE:
        return "UPDATE"
    try:
        _, used = dns.name.from_wire(data, 12)
    except dns.exception.DNSException:
        return None
    return dns.rdatatype.to_text(int.from_bytes(data[12 + used : 14 + used], "big"))


class DnsMessages:
    """Counts the DNS messages this process sends, by kind. `install` patches socket.socket."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _record(self, sock: socket.socket, data: bytes) -> None:
        kind = _kind(bytes(data), sock.type == socket.SOCK_STREAM)
        if kind is not None:
            with self._lock:
                self.sent[kind] += 1

    def install(self) -> None:
        real_send, real_sendall, real_sendto = (
            socket.socket.send,
            socket.socket.sendall,
            socket.socket.sendto,
        )

        def send(sock: socket.socket, data: bytes, *args: Any) -> int:
            self._record(sock, data)
            return real_send(sock, data, *args)

        def sendall(sock: socket.socket, data: bytes, *args: Any) -> None:
            self._record(sock, data)
            real_sendall(sock, data, *args)

        def sendto(sock: socket.socket, data: bytes, *args: Any) -> int:
            self._record(sock, data)
            return real_sendto(sock, data, *args)  # type: ignore[arg-type]

        socket.socket.send = send  # type: ignore[method-assign]
        socket.socket.sendall = sendall  # type: ignore[method-assign]
        socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]


@dataclass
class Step:
    """One measured step: wall time, memory, and what it sent (by kind)."""

    name: str
    seconds: float = 0.0
    traced_peak: int = 0  # bytes, tracemalloc (Python allocations; 0 when not tracing)
    max_rss: int = 0  # bytes, the process's peak resident set during the step (Linux)
    sent: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        sent = ", ".join(f"{kind} {count}" for kind, count in sorted(self.sent.items()))
        traced = f"{self.traced_peak / MIB:.0f} MiB" if self.traced_peak else "not traced"
        return (
            f"{self.name}: {self.seconds:.2f} s; peak memory {traced} (tracemalloc), "
            f"{self.max_rss / MIB:.0f} MiB (peak RSS of the step); sent: {sent or 'nothing'} "
            f"(total {sum(self.sent.values())})"
        )


CLEAR_REFS = Path("/proc/self/clear_refs")


def _reset_peak_rss() -> None:
    """Start the process's peak RSS afresh (Linux: "5" resets VmHWM), so a step's is its own."""
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")


def _peak_rss() -> int:
    """Bytes: the peak RSS since `_reset_peak_rss` (Linux), else the maximum RSS so far."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def measured(name: str, counter: Counter[str]) -> Iterator[Step]:
    """Measure the block; `counter` is what it sends (its increase is the step's)."""
    step = Step(name)
    before = Counter(counter)
    _reset_peak_rss()
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
    started = time.perf_counter()
    yield step
    step.seconds = time.perf_counter() - started
    step.traced_peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
    step.max_rss = _peak_rss()
    step.sent = counter - before


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds `action` took, and what it returned."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result
