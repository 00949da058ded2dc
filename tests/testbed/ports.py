"""Free loopback ports, usable for both TCP and UDP."""

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _bindable(host: str, port: int) -> bool:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        try:
            tcp.bind((host, port))
            udp.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free for TCP and UDP on host, never the same one twice in this process."""
    while True:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def stable_port(host: str = "127.0.0.1") -> int:
    """A free port below the kernel's ephemeral range, so that no outgoing socket takes it while
    the server that listens there is away (a proxy that goes down and comes back)."""
    low = int(_EPHEMERAL.read_text().split()[0]) if _EPHEMERAL.exists() else 32768
    while True:
        port = random.randrange(low // 2, low)
        if port not in _handed_out and _bindable(host, port):
            _handed_out.add(port)
            return port
