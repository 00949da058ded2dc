"""A DNS server on loopback that answers with whatever bytes a test gives (UDP and TCP), to send
what real servers refuse to hold: TLSA rdata under 3 octets, unreadable replies, stray datagrams."""

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from .model import Server

# The datagrams to send back for one UDP query, and the message for one TCP query (None: none).
UdpAnswer = Callable[[bytes], list[bytes]]
TcpAnswer = Callable[[bytes], bytes | None]


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@contextmanager
def rogue_dns(udp: UdpAnswer, tcp: TcpAnswer | None = None) -> Iterator[Server]:
    """Serve `udp` (and `tcp`) on one free loopback port until the block ends."""
    udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_sock.bind(("127.0.0.1", 0))
    port = udp_sock.getsockname()[1]
    tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_sock.bind(("127.0.0.1", port))
    tcp_sock.listen(8)
    tcp_sock.settimeout(0.2)
    udp_sock.settimeout(0.2)
    stop = threading.Event()

    def serve_udp() -> None:
        while not stop.is_set():
            try:
                wire, peer = udp_sock.recvfrom(65535)
            except OSError:
                continue
            for datagram in udp(wire):
                udp_sock.sendto(datagram, peer)

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, _ = tcp_sock.accept()
            except OSError:
                continue
            with conn, suppress(OSError):
                conn.settimeout(5)
                prefix = _read_exactly(conn, 2)
                wire = prefix and _read_exactly(conn, int.from_bytes(prefix, "big"))
                answer = tcp(wire) if tcp and wire else None
                if answer is not None:
                    conn.sendall(len(answer).to_bytes(2, "big") + answer)

    threads = [threading.Thread(target=f, daemon=True) for f in (serve_udp, serve_tcp)]
    for thread in threads:
        thread.start()
    try:
        yield Server("rogue", "127.0.0.1", port, 0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        udp_sock.close()
        tcp_sock.close()
