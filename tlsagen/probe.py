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
from dataclasses import dataclass
from typing import Any

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
    """Line reading on a plain socket, without reading past what the server sent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ProbeError("starttls", "the server closed the connection")
            self.buffer += chunk
            if len(self.buffer) > 65536:
                raise ProbeError("starttls", "the server sent an overlong line")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def smtp_reply(self) -> tuple[int, list[bytes]]:
        """(code, text lines) of a possibly multi-line SMTP reply."""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:])
            if line[3:4] != b"-":
                code = line[:3]
                return (int(code) if code.isdigit() else 0), lines


def _expect(ok: bool, what: str, reply: bytes | list[bytes]) -> None:
    if not ok:
        text = b" ".join(reply) if isinstance(reply, list) else reply
        raise ProbeError("starttls", f"{what}: {text.decode('ascii', 'replace')[:200]}")


def _starttls(sock: socket.socket, protocol: str) -> None:
    """Run the protocol's plain-text exchange up to the point where TLS starts."""
    lines = _Lines(sock)
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
        while not (reply := lines.line()).startswith(b"a "):
            pass
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
    """One connection: STARTTLS if `protocol` says so, a handshake with SNI `sni`, the chain."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise ProbeError("connect", f"cannot connect: {exc.strerror or exc}") from None
    with sock:
        try:
            if protocol != "none":
                _starttls(sock, protocol)
        except OSError as exc:
            raise ProbeError("starttls", f"{protocol} exchange failed: {exc}") from None
        try:
            with _context(key_type).wrap_socket(sock, server_hostname=sni) as tls:
                chain = _der_chain(tls)
                cipher = tls.cipher()
                if protocol in _GOODBYE:
                    tls.sendall(_GOODBYE[protocol])
                return Served(key_type, chain, tls.version() or "", cipher[0] if cipher else "")
        except ssl.SSLError as exc:
            raise ProbeError("tls", f"TLS handshake failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise ProbeError("tls", f"TLS handshake failed: {exc}") from None


def fetch_each_key(
    address: str, port: int, sni: str, protocol: str, timeout: float
) -> tuple[list[Served], ProbeError | None]:
    """One handshake per key type the server offers; the error that stopped probing, if any."""
    served = []
    for key_type in KEY_CIPHERS:
        try:
            served.append(fetch(address, port, sni, protocol, key_type, timeout))
        except ProbeError as exc:
            if exc.stage != "tls":
                return served, exc
    if not served:
        try:
            served.append(fetch(address, port, sni, protocol, None, timeout))
        except ProbeError as exc:
            return served, exc
    return served, None
