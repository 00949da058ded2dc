"""The real DANE clients beside `tlsagen check`, and servers that send chosen chains.

- `start_chain_postfix`: one Postfix instance, two smtpd services per chain file (STARTTLS and
  implicit TLS), each sending its file's certificates in the file's order (extra ones included).
- `dns_on_port_53`: a relay on port 53 of a free 127.53.x.y address to the lab's validating
  Unbound (which listens on a free port): what resolv.conf and `ldns-dane -r` can name.
- `posttls_finger`, `openssl_dane`, `ldns_dane`: each client's verdict, read from its output
  (posttls-finger exits 0 whatever it finds). posttls-finger uses the system resolver: it runs
  in a private mount namespace (`unshare -m`, root only) with resolv.conf bind-mounted.
"""

import os
import pwd
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from .model import Server
from .ports import free_port
from .postfix import _greets, _main_cf, _postfix
from .proc import READY_TIMEOUT, LabError, binary, log_tail

MATCH = "match"  # authenticated: the sender delivers
MISMATCH = "mismatch"  # usable records, none matches: the sender defers
NO_USABLE = "no usable record"  # TLS without authentication: the sender delivers
FAILED = "failed"  # the client could not tell (no connection, no DNS answer)
# What posttls-finger says when no record is usable: records it drops while reading DNS (PKIX
# usages, matching type 255, under 4 octets), or that OpenSSL refuses. It then tries the "secure"
# level (a diagnostic); the Postfix smtp client uses "encrypt" (TLS without authentication) and
# delivers (smtp_tls_policy.c: dane_incompat, DANE_CANTAUTH).
NO_USABLE_SAID = (
    "no usable TLSA records found",
    "all TLSA records unusable",
)


@dataclass(frozen=True)
class ChainServer:
    starttls_port: int
    wrapper_port: int


def write_chain_file(
    path: Path, key: CertificateIssuerPrivateKeyTypes, certs: Sequence[bytes]
) -> Path:
    """The key, then the certificates (DER) in the order given: what smtpd_tls_chain_files sends."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem += b"".join(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for der in certs
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return path


@contextmanager
def start_chain_postfix(
    directory: Path, chain_files: Sequence[Path]
) -> Iterator[list[ChainServer]]:
    """Postfix with a STARTTLS and an implicit-TLS smtpd for each chain file; stopped at the end."""
    config_dir = directory / "conf"
    for sub in ("conf", "queue", "data"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    os.chown(directory / "data", *_postfix_ids())
    servers = [ChainServer(free_port(), free_port()) for _ in chain_files]
    smtpd = "inet  n       -       n       -       -       smtpd"
    lines = []
    for server, path in zip(servers, chain_files, strict=True):
        lines.append(f"127.0.0.1:{server.starttls_port} {smtpd} -o smtpd_tls_chain_files={path}")
        lines.append(
            f"127.0.0.1:{server.wrapper_port} {smtpd} -o smtpd_tls_chain_files={path} "
            "-o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt"
        )
    lines += [
        "tlsmgr    unix  -       -       n       1000?   1       tlsmgr",
        "anvil     unix  -       -       n       -       1       anvil",
        "proxymap  unix  -       -       n       -       -       proxymap",
        "postlog   unix-dgram n  -       n       -       1       postlogd",
    ]
    (config_dir / "main.cf").write_text(_main_cf(directory, []))
    (config_dir / "master.cf").write_text("\n".join(lines) + "\n")
    started = _postfix(config_dir, "start")
    log = directory / "postfix.log"
    if started.returncode != 0:
        raise LabError(f"postfix start failed:\n{started.stdout}{started.stderr}{log_tail(log)}")
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(_greets(s.starttls_port) for s in servers):
            if time.monotonic() > deadline:
                raise LabError(f"postfix did not answer in time:\n{log_tail(log)}")
            time.sleep(0.1)
        yield servers
    finally:
        _postfix(config_dir, "stop")


def _postfix_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("postfix")
    return entry.pw_uid, entry.pw_gid


@contextmanager
def dns_on_port_53(upstream: Server) -> Iterator[str]:
    """Relay DNS (UDP and TCP) from port 53 of a free loopback address to `upstream`; yields
    that address (another test session may hold another)."""
    udp, tcp, host = _bind_port_53()
    target = (upstream.host, upstream.port)

    def relay_udp(wire: bytes, peer: tuple[str, int]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out, suppress(OSError):
            out.settimeout(10)
            out.sendto(wire, target)
            udp.sendto(out.recv(65535), peer)

    def serve_udp() -> None:
        while True:
            try:
                wire, peer = udp.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=relay_udp, args=(wire, peer), daemon=True).start()

    def relay_tcp(conn: socket.socket) -> None:
        with conn, socket.create_connection(target, timeout=10) as out, suppress(OSError):
            conn.settimeout(10)
            while prefix := conn.recv(2, socket.MSG_WAITALL):
                out.sendall(prefix + conn.recv(int.from_bytes(prefix, "big"), socket.MSG_WAITALL))
                size = out.recv(2, socket.MSG_WAITALL)
                conn.sendall(size + out.recv(int.from_bytes(size, "big"), socket.MSG_WAITALL))

    def serve_tcp() -> None:
        while True:
            try:
                conn, _ = tcp.accept()
            except OSError:
                return
            threading.Thread(target=relay_tcp, args=(conn,), daemon=True).start()

    for serve in (serve_udp, serve_tcp):
        threading.Thread(target=serve, daemon=True).start()
    try:
        yield host
    finally:
        for sock in (udp, tcp):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _bind_port_53() -> tuple[socket.socket, socket.socket, str]:
    for _ in range(50):
        host = f"127.53.{random.randrange(256)}.{random.randrange(1, 255)}"
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, 53))
            tcp.bind((host, 53))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        return udp, tcp, host
    raise LabError("no free loopback address with port 53 (is this run as root?)")


def _run(argv: list[str], timeout: float = 60) -> str:
    done = subprocess.run(
        argv, input="", capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.stdout + done.stderr


def posttls_finger(config: Path, host: str, port: int) -> tuple[str, str]:
    """Postfix's verdict at the dane-only level (STARTTLS), and its output; `config` is a directory
    with main.cf and resolv.conf (see `finger_config`)."""
    finger = [
        binary("posttls-finger"),
        "-c",
        "-l",
        "dane-only",  # as dane, but it says when no record is usable (see NO_USABLE_SAID)
        "-t",
        "10",
        "-T",
        "10",
        "-o",
        "smtp_dns_support_level=dnssec",
        f"[{host}]:{port}",
    ]
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    resolv_conf = str(config / "resolv.conf")
    output = _run(
        ["env", f"MAIL_CONFIG={config}", "unshare", "-m", "sh", "-c", script, resolv_conf, *finger]
    )
    if "Verified TLS connection established" in output:
        return MATCH, output
    if any(said in output for said in NO_USABLE_SAID):
        return NO_USABLE, output
    if "Untrusted TLS connection established" in output:
        return MISMATCH, output
    return FAILED, output


def finger_config(directory: Path, resolver: str) -> Path:
    """A configuration directory for posttls-finger: DNSSEC on, `resolver` in its resolv.conf
    (trust-ad: glibc passes the AD bit on only then)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(
        "compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\ninet_protocols = ipv4\n"
    )
    (directory / "resolv.conf").write_text(f"nameserver {resolver}\noptions trust-ad edns0\n")
    return directory


def openssl_dane(host: str, port: int, records: Sequence[str]) -> tuple[str, str]:
    """OpenSSL's verdict (s_client, STARTTLS, DANE-EE name checks off as in Postfix)."""
    argv = ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp"]
    argv += ["-dane_tlsa_domain", host, "-dane_ee_no_namechecks"]
    for record in records:
        argv += ["-dane_tlsa_rrdata", record]
    output = _run(argv)
    if "Verification: OK" in output:
        return MATCH, output
    if output.count("warning: unusable TLSA rrdata") == len(records):
        return NO_USABLE, output  # then it checks the chain as WebPKI, with no CA to trust
    if "Verification error" in output:
        return MISMATCH, output
    return FAILED, output


def ldns_dane(resolver: str, host: str, port: int, records: int) -> tuple[str, str]:
    """ldns-dane's verdict (implicit TLS), its `records` TLSA records read through `resolver`."""
    output = _run(["ldns-dane", "-r", resolver, "-4", "verify", host, str(port)])
    if "dane-validated successfully" in output:
        return MATCH, output
    if output.count("Skipping unusable TLSA RR") == records:
        return NO_USABLE, output
    return (MISMATCH if "did not dane-validate" in output else FAILED), output
