"""A second Postfix instance on loopback: STARTTLS with RSA and ECDSA chains, no TLS, wrapper.

Certificates are made here (root -> intermediate -> leaf for mx1 and mx2.example.test, once per
key type). Postfix serves leaf + intermediate, never the root. Traps handled (docs testbed.md):
data_directory owned by postfix, maillog_file_prefixes, pid read from the queue directory.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from .ports import free_port
from .proc import READY_TIMEOUT, LabError, binary, log_tail

LEAF_NAMES = ("mx1.example.test", "mx2.example.test")


@dataclass(frozen=True)
class Chain:
    """One key type's certificates as DER; Postfix serves leaf + intermediate, not the root."""

    key_type: str  # "rsa" or "ecdsa"
    leaf: bytes
    intermediate: bytes
    root: bytes
    pem_file: Path  # private key, leaf, intermediate (what smtpd_tls_chain_files reads)

    @property
    def served(self) -> tuple[bytes, bytes]:
        return (self.leaf, self.intermediate)


@dataclass(frozen=True)
class PostfixLab:
    starttls_port: int  # STARTTLS, both chains
    plain_port: int  # no STARTTLS offered
    wrapper_port: int  # implicit TLS, both chains
    rsa: Chain
    ecdsa: Chain
    config_dir: Path
    pid: int


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    ca: bool,
    names: Sequence[str] = (),
    valid: tuple[datetime, datetime] | None = None,
) -> x509.Certificate:
    """A certificate for subject's key, signed by issuer_key (self-signed when issuer is None).

    names go into the subjectAltName (none: no SAN); valid defaults to yesterday + 30 days.
    """
    now = datetime.now(UTC)
    not_before, not_after = valid or (now - timedelta(days=1), now + timedelta(days=30))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def new_key(key_type: str) -> CertificateIssuerPrivateKeyTypes:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_chain(directory: Path, key_type: str) -> Chain:
    """root -> intermediate -> leaf, all of key_type; writes key + leaf + intermediate as PEM."""
    root_key, int_key, leaf_key = (new_key(key_type) for _ in range(3))
    root = issue(f"Test Root {key_type}", root_key, None, root_key, ca=True)
    intermediate = issue(f"Test CA {key_type}", int_key, root, root_key, ca=True)
    leaf = issue(LEAF_NAMES[0], leaf_key, intermediate, int_key, ca=False, names=LEAF_NAMES)
    pem = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, intermediate))
    pem_file = directory / f"{key_type}.pem"
    fd = os.open(pem_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    der = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, intermediate, root)]
    return Chain(key_type, der[0], der[1], der[2], pem_file)


def _main_cf(directory: Path, chains: list[Chain]) -> str:
    files = ", ".join(str(c.pem_file) for c in chains)
    return f"""compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx1.example.test
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = {directory}/postfix.log
maillog_file_prefixes = {directory}
smtpd_peername_lookup = no
smtpd_tls_security_level = may
smtpd_tls_chain_files = {files}
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 0
"""


def _master_cf(starttls: int, plain: int, wrapper: int) -> str:
    service = "inet  n       -       n       -       -       smtpd"
    return f"""127.0.0.1:{starttls} {service}
127.0.0.1:{plain} {service} -o smtpd_tls_security_level=none
127.0.0.1:{wrapper} {service} -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
anvil     unix  -       -       n       -       1       anvil
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(4).startswith(b"220")
    except OSError:
        return False


def _postfix(config_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("postfix"), "-c", str(config_dir), command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def start_postfix(directory: Path) -> Iterator[PostfixLab]:
    """Start the instance under directory (which the postfix user must be able to traverse);
    stop it when the block ends."""
    config_dir = directory / "conf"
    for sub in ("conf", "queue", "data", "certs"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    shutil.chown(directory / "data", "postfix")
    chains = [make_chain(directory / "certs", key_type) for key_type in ("rsa", "ecdsa")]
    ports = [free_port() for _ in range(3)]
    (config_dir / "main.cf").write_text(_main_cf(directory, chains))
    (config_dir / "master.cf").write_text(_master_cf(*ports))
    started = _postfix(config_dir, "start")
    log = directory / "postfix.log"
    if started.returncode != 0:
        raise LabError(f"postfix start failed:\n{started.stdout}{started.stderr}{log_tail(log)}")
    pid_file = directory / "queue" / "pid" / "master.pid"
    deadline = time.monotonic() + READY_TIMEOUT
    while not (pid_file.exists() and all(_greets(port) for port in ports[:2])):
        if time.monotonic() > deadline:
            _postfix(config_dir, "stop")
            raise LabError(f"postfix did not answer on {ports} in time:\n{log_tail(log)}")
        time.sleep(0.05)
    pid = int(pid_file.read_text().split()[0])
    try:
        yield PostfixLab(*ports, chains[0], chains[1], config_dir, pid)
    finally:
        if _postfix(config_dir, "stop").returncode != 0:
            os.kill(pid, 15)
