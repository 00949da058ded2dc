"""ACME for the rollover tests: a real pebble CA driven by a real certbot, and a local stand-in CA
that writes the files dehydrated and acme.sh keep (so their layouts can be tested without them).

pebble runs on loopback with PEBBLE_VA_ALWAYS_VALID=1 (no challenge is really checked); certbot
runs with its config, work and logs directories under a temporary directory, REQUESTS_CA_BUNDLE
set per command (testbed.md trap 13) and --no-random-sleep-on-renew (trap 12).
"""

import ipaddress
import json
import os
import shutil
import subprocess
import sys
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

# --- a local CA ----------------------------------------------------------------------------------


def new_key(kind: str = "ecdsa") -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    ca: bool,
    names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class LocalCA:
    """Root -> intermediate; issues leaves for a key, as `fullchain` PEM (leaf, intermediate)."""

    def __init__(self) -> None:
        root_key, self.key = new_key(), new_key()
        self.cert = _certificate("Local CA", self.key, _name("Local Root"), root_key, ca=True)

    def fullchain(self, key: CertificateIssuerPrivateKeyTypes, name: str) -> bytes:
        names = [x509.DNSName(name)]
        leaf = _certificate(name, key, self.cert.subject, self.key, ca=False, names=names)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, self.cert))


@dataclass
class CertDir:
    """A directory holding fullchain + private key the way one ACME client lays it out.

    layout "certbot": live/NAME/{fullchain,privkey}.pem (written directly, not as links);
    "dehydrated": certs/NAME/{fullchain,privkey}.pem and, with a next key, privkey.roll.pem;
    "acme.sh": NAME/{fullchain.cer, NAME.key} and, with a next key, NAME.key.next.
    """

    root: Path
    name: str
    layout: str
    ca: LocalCA

    @property
    def dir(self) -> Path:
        sub = {"certbot": ("live", self.name), "dehydrated": ("certs", self.name)}
        return self.root.joinpath(*sub.get(self.layout, (self.name,)))

    @property
    def fullchain(self) -> Path:
        return self.dir / ("fullchain.cer" if self.layout == "acme.sh" else "fullchain.pem")

    @property
    def key(self) -> Path:
        return self.dir / (f"{self.name}.key" if self.layout == "acme.sh" else "privkey.pem")

    @property
    def next_key(self) -> Path:
        if self.layout == "dehydrated":
            return self.dir / "privkey.roll.pem"
        return self.dir / f"{self.name}.key.next"

    def issue(self, key: CertificateIssuerPrivateKeyTypes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key.write_bytes(key_pem(key))
        self.key.chmod(0o600)
        self.fullchain.write_bytes(self.ca.fullchain(key, self.name))

    def reissue(self) -> None:
        """Renew keeping the key (certbot reuse_key, acme.sh's default)."""
        self.issue(self._load(self.key))

    @staticmethod
    def _load(path: Path) -> CertificateIssuerPrivateKeyTypes:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        return key

    def prepare_next(self) -> CertificateIssuerPrivateKeyTypes:
        """Write a standing next key as the client does (dehydrated roll key, acme.sh .next)."""
        key = new_key()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.next_key.write_bytes(key_pem(key))
        return key

    def roll(self) -> CertificateIssuerPrivateKeyTypes:
        """Renew with the standing next key and make a fresh next key, as the client does."""
        key = self._load(self.next_key)
        self.issue(key)
        self.prepare_next()
        return key


# --- reload commands -----------------------------------------------------------------------------

RECORDER = (
    "import sys, pathlib; log = pathlib.Path(sys.argv[1]); "
    "log.write_text(log.read_text() + 'reload\\n' if log.exists() else 'reload\\n'); "
    "sys.exit(int(sys.argv[2]))"
)


def recording_reload(log: Path, status: int = 0) -> list[str]:
    """A reload command (argv) that appends a line to `log` and exits with `status`."""
    return [sys.executable, "-c", RECORDER, str(log), str(status)]


def publish_hook(config: Path, log: Path, stderr_to_certbot: bool = False) -> Path:
    """An executable deploy hook (LOG.sh) that runs `tlsagen publish --config CONFIG` and appends
    its output, then `exit N`, to `log`. With `stderr_to_certbot`, only standard output goes to
    `log`: standard error is left to certbot, which logs any as "Hook ran with error output"."""
    tlsagen = Path(sys.executable).parent / "tlsagen"
    hook = log.with_suffix(".sh")
    errors = "" if stderr_to_certbot else " 2>&1"
    hook.write_text(
        f"#!/bin/sh\n{tlsagen} publish --config {config} >> {log}{errors}\n"
        f'echo "exit $?" >> {log}\n'
    )
    hook.chmod(0o755)
    return hook


def reloads(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


# --- pebble and certbot --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    ca_bundle: Path  # the CA of pebble's own HTTPS listener
    pid: int


def _tls_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, for pebble's HTTPS listener."""
    key = new_key()
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = _certificate("pebble", key, _name("pebble"), key, ca=True, names=names)
    cert_file, key_file = directory / "listener.pem", directory / "listener.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key_pem(key))
    return cert_file, key_file


@contextmanager
def start_pebble(directory: Path) -> Iterator[Pebble]:
    """pebble on loopback, every challenge valid; stopped (by its PID) when the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = _tls_pair(directory)
    port, management, http, tls = (free_port() for _ in range(4))
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert_file),
            "privateKey": str(key_file),
            "httpPort": http,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (directory / "pebble.json").write_text(json.dumps(config))
    environment = {
        **os.environ,
        "PEBBLE_VA_ALWAYS_VALID": "1",
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
    }
    log = directory / "pebble.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary("pebble"), "-config", str(directory / "pebble.json")],
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while b"ACME directory available" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"pebble did not start:\n{log_tail(log)}")
            time.sleep(0.05)
        yield Pebble(f"https://127.0.0.1:{port}/dir", cert_file, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Certbot:
    """certbot against one pebble, with every directory under `root`."""

    pebble: Pebble
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    def lineage(self, name: str) -> Path:
        return self.config_dir / "live" / name

    def run(
        self, *args: str, environment: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """One certbot command; LabError with its output when it fails."""
        command = shutil.which("certbot") or str(Path(sys.executable).parent / "certbot")
        argv = [
            command,
            *args,
            "--non-interactive",
            "--server",
            self.pebble.directory_url,
            "--config-dir",
            str(self.config_dir),
            "--work-dir",
            str(self.root / "work"),
            "--logs-dir",
            str(self.root / "logs"),
        ]
        env = {
            **os.environ,
            **(environment or {}),
            "REQUESTS_CA_BUNDLE": str(self.pebble.ca_bundle),
        }
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        if done.returncode != 0:
            raise LabError(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    def certonly(self, name: str, domain: str, *extra: str) -> Path:
        self.run(
            "certonly",
            "--agree-tos",
            "--register-unsafely-without-email",
            "-a",
            "manual",
            "--manual-auth-hook",
            "/bin/true",
            "--preferred-challenges",
            "http",
            "--cert-name",
            name,
            "-d",
            domain,
            *extra,
        )
        return self.lineage(name)

    def renew(self, name: str, *extra: str, environment: dict[str, str] | None = None) -> None:
        self.run(
            "renew",
            "--cert-name",
            name,
            "--force-renewal",
            "--no-random-sleep-on-renew",
            *extra,
            environment=environment,
        )
