"""Benchmark `tlsagen generate` against the openssl pipeline it replaces, side by side in one run.

(a) Cold start for one certificate: the median of RUNS runs of the installed console script
    against the median of RUNS runs of
    `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256`,
    the two interleaved, with tlsagen's bytecode compiled first as pip does on install.
    Target: tlsagen takes at most 3.5x the pipeline's time.
    `tlsagen --version`, measured the same way in the same runs, imports no cryptography and no
    provider: target at most 0.3x the cold time of `tlsagen generate`.
(b) Many certificates: one `tlsagen generate` over CERTS certificate files against a shell loop of
    the same pipeline over the same files (both outputs are checked to agree).
    Target: tlsagen at least 25x faster.

Usage: python benchmarks/generate.py [--runs 15] [--certs 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "mx1.example.com"
PIPELINE = (
    "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256"
)
COLD_TARGET = 3.5  # tlsagen at most this many times the pipeline's time for one certificate
VERSION_TARGET = 0.3  # `tlsagen --version` at most this share of generate's cold time
BULK_TARGET = 25.0  # tlsagen at least this many times faster over many certificates
KEYS = 4  # the certificates share a few key pairs


def make_certificates(directory: Path, count: int) -> list[Path]:
    """`count` leaf certificates issued by one CA, written as PEM files cert-00001.pem, ..."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Benchmark CA")])
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(KEYS)]
    now = datetime.now(UTC)
    paths = []
    for number in range(1, count + 1):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mx{number}.example.com")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca_name)
            .public_key(keys[number % KEYS].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        path = directory / f"cert-{number:05}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(path)
    return paths


def run(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time of one command, and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def tlsagen_hashes(output: str) -> list[str]:
    return [line.split()[-1] for line in output.splitlines()]


def openssl_hashes(output: str) -> list[str]:
    return re.findall(r"= ([0-9a-f]{64})$", output, re.MULTILINE)


def cold_start(script: Path, cert: Path, runs: int) -> dict[str, list[float]]:
    """Wall times of each command, `runs` of each, interleaved."""
    commands = {
        "tlsagen generate": [str(script), "generate", cert.name, "--host", HOST],
        "openssl pipeline": ["sh", "-c", PIPELINE.format(cert.name)],
        "tlsagen --version": [str(script), "--version"],
    }
    for command in commands.values():
        run(command, cert.parent)  # warm the page cache; not counted
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, command in commands.items():
            times[label].append(run(command, cert.parent)[0])
    return times


def bulk(script: Path, certs: list[Path]) -> tuple[float, float]:
    directory = certs[0].parent
    names = [cert.name for cert in certs]
    ours, output = run([str(script), "generate", *names, "--host", HOST], directory)
    loop = "for f in cert-*.pem; do " + PIPELINE.format('"$f"') + "; done"
    theirs, loop_output = run(["bash", "-c", loop], directory)
    if tlsagen_hashes(output) != openssl_hashes(loop_output):
        sys.exit("tlsagen and the openssl loop disagree; the benchmark is void")
    return ours, theirs


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="cold-start runs of each (15)")
    parser.add_argument("--certs", type=int, default=1000, help="certificates for (b) (1000)")
    args = parser.parse_args()
    script = Path(sysconfig.get_path("scripts")) / "tlsagen"
    if not script.exists():
        sys.exit(f"{script} not found: install tlsagen first (pip install -e .)")
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True)
    # pip compiles bytecode when it installs a wheel; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would compile every module at every start instead.
    spec = importlib.util.find_spec("tlsagen")
    if spec is not None and spec.origin is not None:
        package = str(Path(spec.origin).parent)
        subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)
    print(f"tlsagen: {script}")
    print(f"Python {platform.python_version()}, {openssl.stdout.strip()}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="tlsagen-bench-") as tmp:
        certs = make_certificates(Path(tmp), args.certs)
        times = cold_start(script, certs[0], args.runs)
        medians = {label: statistics.median(each) for label, each in times.items()}
        print(f"\n(a) cold start, one certificate, {args.runs} runs each: median (min)")
        for label, each in times.items():
            print(f"    {label:18} {medians[label] * 1000:7.1f} ms ({min(each) * 1000:.1f})")
        ratio = medians["tlsagen generate"] / medians["openssl pipeline"]
        print(
            f"    generate / pipeline {ratio:.2f}x, target <= {COLD_TARGET:g}x: "
            f"{verdict(ratio <= COLD_TARGET)}"
        )
        share = medians["tlsagen --version"] / medians["tlsagen generate"]
        print(
            f"    --version / generate {share:.2f}x, target <= {VERSION_TARGET:g}x: "
            f"{verdict(share <= VERSION_TARGET)}"
        )

        ours_bulk, theirs_bulk = bulk(script, certs)
        speedup = theirs_bulk / ours_bulk
        print(f"\n(b) {args.certs} certificates")
        print(f"    tlsagen generate, one run   {ours_bulk:8.2f} s")
        print(f"    openssl pipeline, shell loop {theirs_bulk:7.2f} s")
        print(
            f"    tlsagen {speedup:.1f}x faster, target >= {BULK_TARGET:g}x: "
            f"{verdict(speedup >= BULK_TARGET)}"
        )


if __name__ == "__main__":
    main()
