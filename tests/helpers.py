"""Shared by the generate tests: a PKI made by the openssl command line, golden TLSA data computed
by openssl (an implementation independent of tlsagen's), and running the CLI in-process."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import shutil
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tlsagen.provider import ENTRY_POINT_GROUP

KEY_TYPES: dict[str, list[str]] = {  # name -> `openssl genpkey` arguments
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "rsa1024": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "p521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    "ed25519": ["-algorithm", "ED25519"],
    "ed448": ["-algorithm", "ED448"],
}
PASSWORD = "correct horse battery staple"
HOST = "mx1.example.com"
CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
LEAF_EXT = "basicConstraints=critical,CA:FALSE\n"
CHAIN_CAS = ("int2", "int1", "root")  # the CAs of `Pki.fullchain`, at positions 1, 2, 3


def params_options(params: Iterable[str]) -> list[str]:
    """`--params U S M` for each parameter set."""
    return [arg for p in params for arg in ("--params", p)]


def openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    """The standard output of one openssl command."""
    return subprocess.run(
        ["openssl", *map(str, args)], input=stdin, check=True, capture_output=True
    ).stdout


@functools.cache
def selected_bytes(cert: Path, selector: int) -> bytes:
    """What a TLSA record with `selector` covers for a PEM certificate, extracted by openssl."""
    if selector == 0:
        return openssl("x509", "-in", cert, "-outform", "DER")
    pem_key = openssl("x509", "-in", cert, "-pubkey", "-noout")
    return openssl("pkey", "-pubin", "-outform", "DER", stdin=pem_key)


@functools.cache
def golden(cert: Path, selector: int, matching_type: int) -> str:
    """TLSA data (hex) for a PEM certificate, computed by openssl alone."""
    selected = selected_bytes(cert, selector)
    if matching_type == 0:
        return selected.hex()
    algorithm = {1: "-sha256", 2: "-sha512"}[matching_type]
    return openssl("dgst", algorithm, "-binary", stdin=selected).hex()


@dataclass(frozen=True)
class Pki:
    """Files made by openssl: a key and a leaf certificate per key type, and a four-deep chain.

    The leaves are issued by `int2`, which `int1` issued, which the self-signed `root` issued;
    `fullchain` is the p256 leaf, int2, int1, root (leaf first, as certbot writes it).
    """

    dir: Path

    def key(self, key_type: str) -> Path:
        return self.dir / f"{key_type}.key"

    def cert(self, key_type: str) -> Path:
        return self.dir / f"{key_type}.pem"

    def ca(self, name: str) -> Path:
        return self.dir / f"{name}.pem"

    @property
    def fullchain(self) -> Path:
        return self.dir / "fullchain.pem"


def _issue(directory: Path, name: str, subject: str, issuer: str | None, ext: str) -> None:
    key, cert, ext_file = (directory / f"{name}{suffix}" for suffix in (".key", ".pem", ".ext"))
    ext_file.write_text(ext)
    csr = openssl("req", "-new", "-key", key, "-subj", f"/CN={subject}")
    signer = (
        ["-CA", directory / f"{issuer}.pem", "-CAkey", directory / f"{issuer}.key"]
        if issuer
        else ["-signkey", key]
    )
    openssl("x509", "-req", *signer, "-days", "3650", "-extfile", ext_file, "-out", cert, stdin=csr)


def make_pki(directory: Path) -> Pki:
    for name in ("root", "int1", "int2"):
        openssl("genpkey", *KEY_TYPES["p256"], "-out", directory / f"{name}.key")
    _issue(directory, "root", "Test Root", None, CA_EXT)
    _issue(directory, "int1", "Test Intermediate 1", "root", CA_EXT)
    _issue(directory, "int2", "Test Intermediate 2", "int1", CA_EXT)
    for key_type, args in KEY_TYPES.items():
        openssl("genpkey", *args, "-out", directory / f"{key_type}.key")
        _issue(directory, key_type, f"{key_type}.{HOST}", "int2", LEAF_EXT)
    pki = Pki(directory)
    pki.fullchain.write_bytes(
        b"".join(path.read_bytes() for path in (pki.cert("p256"), *map(pki.ca, CHAIN_CAS)))
    )
    return pki


@dataclass(frozen=True)
class Run:
    """One run of the CLI: exit code, standard output, standard error."""

    code: int
    out: str
    err: str

    def records(self) -> dict[str, str]:
        """`--format json` output as {"U S M": hex data}."""
        assert self.code == 0, self.err
        items = json.loads(self.out)["records"]
        return {f"{r['usage']} {r['selector']} {r['matching_type']}": r["data"] for r in items}


Cli = Callable[..., Run]  # the `cli` fixture: run `tlsagen ARGS...` in-process


MiB = 1024 * 1024


@contextmanager
def bounded(seconds: float, mebibytes: float | None = None) -> Iterator[None]:
    """The block must finish within `seconds` and, when given, allocate at most `mebibytes` at
    its peak (traced by tracemalloc, which makes Python code 3-5 times slower)."""
    if mebibytes is not None:
        tracemalloc.start()
    started = time.monotonic()
    try:
        yield
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert mebibytes is None or peak < mebibytes, f"peak {peak:.1f} MiB"


def needs_provider(*kinds: str) -> pytest.MarkDecorator:
    """Skip a test of the core that runs the CLI with providers `kinds` when a provider's
    distribution is not installed: the core's tests need only `pip install -e .[dev]`."""
    missing = [
        kind
        for kind in kinds
        if not importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=kind)
    ]
    why = f"needs {', '.join(f'tlsagen-{kind}' for kind in missing)}"
    return pytest.mark.skipif(bool(missing), reason=why)


def verify_units(paths: list[Path]) -> None:
    """`systemd-analyze verify` on unit files, offline (no running systemd needed)."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd", pytrace=False)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
