"""The TLS edge: connect, STARTTLS (SMTP, IMAP, POP3) or implicit TLS, and fetch the served chain.

Certificate verification is off: DANE replaces PKIX, and a strict context would abort on a private
CA before the chain could be matched (docs: standards §6). A server with both an RSA and an ECDSA
certificate is probed once per key type, with TLS 1.2 and only that key type's cipher suites
(Python's ssl cannot restrict TLS 1.3 signature algorithms); a server that takes neither is
probed once more with defaults.
"""

from __future__ import annotations

import _ssl
import socket
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from tlsagen.core.text import escaped

MAX_LINE = 4096  # bytes in one line of a reply (RFC 5321 §4.5.3.1.5 allows 512)
MAX_LINES = 100  # lines in one reply
MAX_RECEIVED = 65536  # bytes of the whole plain-text exchange
STARTTLS_BY_PORT = {25: "smtp", 587: "smtp", 2525: "smtp", 143: "imap", 110: "pop3"}
KEY_CIPHERS = {"ecdsa": "aECDSA", "rsa": "aRSA"}
EHLO_NAME = "tlsagen.invalid"
_GOODBYE = {"smtp": b"QUIT\r\n", "imap": b"z LOGOUT\r\n", "pop3": b"QUIT\r\n"}


class ProbeError(Exception):
    """The probe failed at `stage`: "connect", "starttls" or "tls"."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class Served:
    """What one handshake showed."""

    key_type: str | None  # the key type asked for ("ecdsa", "rsa"), None for defaults
    chain: tuple[bytes, ...]  # DER, leaf first, as the server sent it
    version: str  # "TLSv1.3"
    cipher: str


def starttls_for(port: int) -> str:
    """The protocol whose STARTTLS a port uses; "none" means TLS from the first byte."""
    return STARTTLS_BY_PORT.get(port, "none")


class _Lines:
    """Line reading on a plain socket, without reading past what the server sent, within the
    exchange's deadline and caps: a server that drips bytes or never ends a reply is cut off."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.received = 0

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProbeError("starttls", f"the server sent a line over {MAX_LINE} bytes")
            self.sock.settimeout(_remaining(self.deadline))
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ProbeError("starttls", "the server closed the connection")
            self.received += len(chunk)
            if self.received > MAX_RECEIVED:
                raise ProbeError("starttls", f"the server sent over {MAX_RECEIVED} bytes")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self, last: Callable[[bytes], bool]) -> list[bytes]:
        """The lines up to and including the first one that is `last`, at most MAX_LINES."""
        lines: list[bytes] = []
        while len(lines) < MAX_LINES:
            lines.append(self.line())
            if last(lines[-1]):
                return lines
        raise ProbeError("starttls", f"the server sent a reply of over {MAX_LINES} lines")

    def smtp_reply(self) -> tuple[int, list[bytes]]:
        """(code, text lines) of a possibly multi-line SMTP reply."""
        lines = self.reply(lambda line: line[3:4] != b"-")
        code = lines[-1][:3]
        return (int(code) if code.isdigit() else 0), [line[4:] for line in lines]


def _remaining(deadline: float) -> float:
    """Seconds left until `deadline`; TimeoutError once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _expect(ok: bool, what: str, reply: bytes | list[bytes]) -> None:
    if not ok:
        text = b" ".join(reply) if isinstance(reply, list) else reply
        raise ProbeError("starttls", f"{what}: {escaped(text.decode('ascii', 'replace')[:200])}")


def _starttls(sock: socket.socket, protocol: str, deadline: float) -> None:
    """Run the protocol's plain-text exchange up to the point where TLS starts."""
    lines = _Lines(sock, deadline)
    if protocol == "smtp":
        code, text = lines.smtp_reply()
        _expect(code == 220, f"the server greeted with {code}", text)
        sock.sendall(f"EHLO {EHLO_NAME}\r\n".encode())
        code, text = lines.smtp_reply()
        _expect(code == 250, f"EHLO was answered {code}", text)
        extensions = [line.split(b" ")[0].upper() for line in text[1:]]
        _expect(
            b"STARTTLS" in extensions, "the server does not offer STARTTLS; EHLO lists", extensions
        )
        sock.sendall(b"STARTTLS\r\n")
        code, text = lines.smtp_reply()
        _expect(code == 220, f"STARTTLS was answered {code}", text)
    elif protocol == "imap":
        greeting = lines.line()
        _expect(greeting.startswith(b"* OK"), "the IMAP greeting is not OK", greeting)
        sock.sendall(b"a STARTTLS\r\n")
        reply = lines.reply(lambda line: line.startswith(b"a "))[-1]
        _expect(reply.startswith(b"a OK"), "STARTTLS was refused", reply)
    elif protocol == "pop3":
        greeting = lines.line()
        _expect(greeting.startswith(b"+OK"), "the POP3 greeting is not +OK", greeting)
        sock.sendall(b"STLS\r\n")
        reply = lines.line()
        _expect(reply.startswith(b"+OK"), "STLS was refused", reply)


def _context(key_type: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if key_type is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(KEY_CIPHERS[key_type])
    return context


def _der_chain(tls: ssl.SSLSocket) -> tuple[bytes, ...]:
    """The chain as sent: public on Python 3.13+, the private `_sslobj` method on 3.10-3.12."""
    getter: Any = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        certs = getter() or []
        return tuple(
            c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in certs
        )
    leaf = tls.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def fetch(
    address: str,
    port: int,
    sni: str,
    protocol: str,
    key_type: str | None,
    timeout: float,
) -> Served:
    """One connection: STARTTLS if `protocol` says so, a handshake with SNI `sni`, the chain; all
    of it within `timeout` seconds (CPython bounds a whole handshake by the socket's timeout)."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise ProbeError("connect", f"cannot connect: {exc.strerror or exc}") from None
    with sock:
        try:
            if protocol != "none":
                _starttls(sock, protocol, deadline)
        except TimeoutError:
            raise ProbeError(
                "starttls", f"the {protocol} exchange did not end within {timeout:.1f} s"
            ) from None
        except OSError as exc:
            raise ProbeError("starttls", f"{protocol} exchange failed: {exc}") from None
        try:
            sock.settimeout(_remaining(deadline))
            with _context(key_type).wrap_socket(sock, server_hostname=sni) as tls:
                chain = _der_chain(tls)
                cipher = tls.cipher()
                if protocol in _GOODBYE:
                    with suppress(OSError):  # the chain is in hand; a server gone changes nothing
                        tls.settimeout(_remaining(deadline))
                        tls.sendall(_GOODBYE[protocol])
                return Served(key_type, chain, tls.version() or "", cipher[0] if cipher else "")
        except ssl.SSLError as exc:
            raise ProbeError("tls", f"TLS handshake failed: {exc.reason or exc}") from None
        except TimeoutError:
            raise ProbeError(
                "tls", f"the TLS handshake did not end within {timeout:.1f} s"
            ) from None
        except OSError as exc:
            raise ProbeError("tls", f"TLS handshake failed: {exc}") from None


def fetch_each_key(
    address: str, port: int, sni: str, protocol: str, timeout: float
) -> tuple[list[Served], ProbeError | None]:
    """One handshake per key type the server offers, all within `timeout` seconds; the error
    that stopped probing, if any."""
    deadline = time.monotonic() + timeout
    served: list[Served] = []
    try:
        for key_type in KEY_CIPHERS:
            try:
                served.append(fetch(address, port, sni, protocol, key_type, _left(deadline)))
            except ProbeError as exc:
                if exc.stage != "tls" or time.monotonic() >= deadline:
                    raise
        if not served:
            served.append(fetch(address, port, sni, protocol, None, _left(deadline)))
    except ProbeError as exc:
        return served, exc
    return served, None


def _left(deadline: float) -> float:
    """The time left for one more connection; ProbeError when there is none."""
    try:
        return _remaining(deadline)
    except TimeoutError:
        raise ProbeError("connect", "no time left for another connection") from None
