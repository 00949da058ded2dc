"""Rogue servers on loopback for the hostile-server tests, and a bounded run of the real CLI.

A rogue DNS server answers UDP and TCP on one port with what its `behaviour` says; a rogue mail
server runs one script per connection. Both live in threads of the test process and stop with
their `with` block. `run_bounded` runs `tlsagen` as a process of its own under a wall-clock limit
and reports its peak memory (its own VmHWM).
"""

from __future__ import annotations

import base64
import datetime
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.testbed.ports import free_port

ROOT = Path(__file__).parents[2]
CERT = ROOT / "docs/examples/mx.example.com/fullchain.pem"
NEXT_KEY = ROOT / "docs/examples/next.key"
DRIP = 0.3  # seconds between two bytes of a dripping server
PADDING = 512  # bytes a dripping DNS server adds to its answer
LOOPBACK = "127.0.0.1"
PEAK_ENV = "TLSAGEN_TEST_PEAK"  # where a run writes its peak memory (VmHWM, KiB) as it exits
RUN = [
    sys.executable,
    "-c",
    "import atexit, os\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
    f"    open(os.environ['{PEAK_ENV}'], 'w').write(status)\n"
    "atexit.register(peak)\n"
    "from tlsagen.cli.app import run; run()",
]

# What a rogue DNS server does with each query.
STUB = "stub"  # a plain answer: A 127.0.0.1 for every name, nothing else
CLOSE = "close"  # UDP: truncated (TC); TCP: accept the connection, close it without an answer
DRIPPING = "drip"  # UDP: truncated (TC); TCP: the plain answer, one byte every DRIP seconds
GARBAGE = "garbage"  # random bytes, over UDP and TCP
OTHER_OWNERS = "other owners"  # the records asked for, at another owner name only
UPDATE_DRIP = "update drip"  # queries: STUB over UDP; an UPDATE: its answer dripped over TCP
DNS_BEHAVIOURS = (STUB, CLOSE, DRIPPING, GARBAGE, OTHER_OWNERS, UPDATE_DRIP)


def _plain_answer(query: dns.message.Message) -> dns.message.Message:
    """An authoritative answer: A 127.0.0.1 when an A record is asked for, else no records; for
    the root, with the AD bit, as a validating resolver answers (check asks it first)."""
    answer = dns.message.make_response(query)
    answer.flags |= dns.flags.AA
    question = query.question[0] if query.question else None
    if question is not None and question.name == dns.name.root:
        answer.flags |= dns.flags.AD
    if question is not None and question.rdtype == dns.rdatatype.A:
        answer.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", LOOPBACK))
    return answer


def _other_owners(query: dns.message.Message) -> dns.message.Message:
    """Records of the type asked for, all at an owner other than the one asked for (the root
    excepted: it gets the plain answer, so that check takes this server for a resolver)."""
    question = query.question[0]
    if question.name == dns.name.root:
        return _plain_answer(query)
    answer = dns.message.make_response(query)
    data = {
        dns.rdatatype.A: LOOPBACK,
        dns.rdatatype.MX: "10 victim.example.",
        dns.rdatatype.TLSA: "3 1 1 " + "ab" * 32,
    }.get(question.rdtype)
    if data is not None:
        other = dns.rrset.from_text("elsewhere.example.", 60, "IN", question.rdtype, data)
        answer.answer.append(other)
    return answer


class RogueDns:
    """A DNS server on a free loopback port (UDP and TCP) that behaves as `behaviour` says."""

    def __init__(self, behaviour: str, udp_delay: float = 0.0) -> None:
        assert behaviour in DNS_BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.udp_delay = udp_delay  # seconds before each answer over UDP
        self.port = free_port()
        self.tcp_connections = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, self.port))
        self.tcp = socket.create_server((LOOPBACK, self.port))
        self.closed = threading.Event()
        threading.Thread(target=self._serve_udp, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()

    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        self.closed.set()
        for sock in (self.udp, self.tcp):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve_udp(self) -> None:
        while not self.closed.is_set():
            try:
                wire, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            if self.closed.wait(self.udp_delay):
                return
            with suppress(OSError, dns.exception.DNSException):
                self.udp.sendto(self._udp_answer(dns.message.from_wire(wire)), peer)

    def _udp_answer(self, query: dns.message.Message) -> bytes:
        if self.behaviour in (CLOSE, DRIPPING):
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            return truncated.to_wire()
        if self.behaviour == GARBAGE:
            return os.urandom(64)
        if self.behaviour == OTHER_OWNERS:
            return _other_owners(query).to_wire()
        return _plain_answer(query).to_wire()

    def _serve_tcp(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            self.tcp_connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, suppress(OSError, dns.exception.DNSException):
            if self.behaviour == CLOSE:
                return  # BIND and Unbound at their TCP client limit
            size = int.from_bytes(conn.recv(2), "big")
            wire = b""
            while len(wire) < size and (chunk := conn.recv(size - len(wire))):
                wire += chunk
            if self.behaviour == GARBAGE:
                junk = os.urandom(64)
                conn.sendall(len(junk).to_bytes(2, "big") + junk)
                return
            answer = _plain_answer(dns.message.from_wire(wire, keyring=False)).to_wire()
            if self.behaviour in (STUB, OTHER_OWNERS):
                conn.sendall(len(answer).to_bytes(2, "big") + answer)
                return
            answer += bytes(PADDING)  # enough to outlast any limit, a byte at a time
            for byte in len(answer).to_bytes(2, "big") + answer:  # DRIPPING, UPDATE_DRIP
                if self.closed.wait(DRIP):
                    return
                conn.sendall(bytes([byte]))


@contextmanager
def rogue_dns(behaviour: str, udp_delay: float = 0.0) -> Iterator[RogueDns]:
    server = RogueDns(behaviour, udp_delay)
    try:
        yield server
    finally:
        server.close()


# --- mail ----------------------------------------------------------------------------------------

Script = Callable[["Conversation"], None]


class Conversation:
    """One connection of a rogue mail server, for its script."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self.conn = conn
        self.stop = stop
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def drip(self, data: bytes) -> None:
        for byte in data:
            if self.stop.wait(DRIP):
                return
            self.conn.sendall(bytes([byte]))

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ConnectionError("client gone")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def smtp_until_starttls(self) -> None:
        """Greet, answer EHLO offering STARTTLS, read the STARTTLS command."""
        self.send(b"220 rogue.hostile.test ESMTP\r\n")
        self.line()
        self.send(b"250-rogue.hostile.test\r\n250 STARTTLS\r\n")
        self.line()

    def tls(self, cert: Path, key: Path) -> None:
        """Go on in TLS with `cert` and `key`, until the client closes."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        with context.wrap_socket(self.conn, server_side=True) as tls:
            tls.settimeout(30)
            while tls.recv(4096):
                pass


class RogueMail:
    """A TCP server on a free loopback port that runs `script` on each connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.port = free_port()
        self.listener = socket.create_server((LOOPBACK, self.port))
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, suppress(OSError):
            self.script(Conversation(conn, self.stop))


@contextmanager
def rogue_mail(script: Script) -> Iterator[RogueMail]:
    server = RogueMail(script)
    try:
        yield server
    finally:
        server.close()


def self_signed(directory: Path, name: str, version: int = 2) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for `name` and its key; `version` other than 2 (v3) is
    written into the DER after signing (OpenSSL serves it, stricter parsers refuse it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    field = der.index(b"\xa0\x03\x02\x01\x02")  # [0] EXPLICIT INTEGER 2: the version
    der[field + 4] = version
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_text(ssl.DER_cert_to_PEM_cert(bytes(der)))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def site(
    directory: Path, server: str, timeout: float, defaults: str = "", service: str = ""
) -> Path:
    """A configuration whose one service (mx.hostile.test) publishes through an RFC 2136 primary
    at `server` (a rogue), with more lines for [defaults] and the service."""
    key = directory / "tsig.key"
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    key.write_text(f'key "tlsagen." {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n')
    next_key = directory / "next.key"
    next_key.write_bytes(NEXT_KEY.read_bytes())
    for private in (key, next_key):
        private.chmod(0o600)
    config = directory / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nstate = '{directory / 'state.json'}'\n{defaults}\n"
        f"[providers.rogue]\ntype = 'rfc2136'\nserver = '{server}'\nzone = 'hostile.test'\n"
        f"key-file = '{key}'\nnameservers = ['{server}']\ntimeout = {timeout}\n\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx.hostile.test']\ncert = '{CERT}'\n"
        f"next-key = '{next_key}'\n{service}"
    )
    return config


# --- running the CLI -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounded:
    """A finished `tlsagen` process: exit code, output, wall-clock seconds, peak memory."""

    code: int
    out: str
    err: str
    seconds: float
    max_rss_mib: float


def run_bounded(*args: str | Path, limit: float) -> Bounded:
    """`tlsagen ARGS...` as its own process, killed after `limit` seconds (AssertionError then).

    Its peak memory is its own VmHWM, written as it exits: a child's rusage would count the
    memory of the test process it was forked from."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: Path(tmp) / name for name in ("out", "err", "peak")}
        with files["out"].open("wb") as out, files["err"].open("wb") as err:
            started = time.monotonic()
            process = subprocess.Popen(
                [*RUN, *map(str, args)],
                stdout=out,
                stderr=err,
                env={**os.environ, PEAK_ENV: str(files["peak"])},
            )
            try:
                process.wait(limit)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            seconds = time.monotonic() - started
        texts = {
            name: path.read_text(errors="replace") for name, path in files.items() if path.exists()
        }
    found = Bounded(process.returncode, texts["out"], texts["err"], seconds, 0.0)
    assert found.code != -signal.SIGKILL, f"tlsagen {args} ran over {limit} s: {found.err}"
    return replace(found, max_rss_mib=int(texts["peak"]) / 1024)  # KiB
