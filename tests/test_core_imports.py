"""Each command imports what it runs: the core stays importable without the CLI stack (typer,
rich, click) or any provider SDK; the value types, `--version`, `--help` and `providers` import
no cryptography and no provider."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tlsagen.core import material

CORE = [
    "tlsagen.core.tlsa",
    "tlsagen.core.material",
    "tlsagen.core.records",
    "tlsagen.core.policy",
    "tlsagen.core.formats",
    "tlsagen.errors",
    "tlsagen.provider",
    "tlsagen.config_values",
    "tlsagen.testing",
]
FORBIDDEN = ["typer", "rich", "click", "boto3"]
# What a command that computes nothing must not load: the X.509 stack and any provider.
HEAVY = ["cryptography", "tlsagen_rfc2136", "tlsagen_route53", "tlsagen_zonefile", "boto3"]
EXAMPLES = Path(__file__).parents[1] / "docs/examples"
VALUE_TYPES = [
    "tlsagen.core.tlsa",
    "tlsagen.core.records",
    "tlsagen.core.endpoint",
    "tlsagen.core.formats",
]


def loaded_after(code: str, watched: list[str]) -> list[str]:
    """The `watched` modules in sys.modules once `code` has run in a fresh interpreter (which
    may exit); its last line of output."""
    script = (
        "import atexit, json, sys\n"
        f"seen = lambda: [m for m in {watched!r} if m in sys.modules]\n"
        "atexit.register(lambda: print(json.dumps(seen())))\n"
        f"{code}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


def forbidden_loaded_by(modules: list[str]) -> list[str]:
    """The FORBIDDEN modules in sys.modules after importing `modules` in a fresh interpreter."""
    return loaded_after(f"import {', '.join(modules)}", FORBIDDEN)


def test_core_imports_no_cli_or_provider_stack() -> None:
    assert forbidden_loaded_by(CORE) == []


def test_the_check_sees_an_import() -> None:
    assert forbidden_loaded_by(["tlsagen.cli.app"]) != []


def test_value_types_import_no_cryptography() -> None:
    assert loaded_after(f"import {', '.join(VALUE_TYPES)}", HEAVY) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["providers"], ["rollover", "-h"]])
def test_commands_that_compute_nothing_import_no_cryptography(args: list[str]) -> None:
    """Run as the console script runs them (tlsagen.cli.run)."""
    code = f"sys.argv = ['tlsagen', *{args!r}]\nfrom tlsagen.cli import run\nrun()"
    assert loaded_after(code, HEAVY) == []


def generate_loads(source: Path) -> list[str]:
    """The HEAVY modules `tlsagen generate SOURCE` loads, run as the console script runs it."""
    code = f"sys.argv = ['tlsagen', 'generate', {str(source)!r}, '--host', 'mx.example.com']\n"
    code += "from tlsagen.cli import run\ntry:\n    run()\nexcept SystemExit:\n    pass"
    return loaded_after(code, HEAVY)


def test_the_command_check_sees_cryptography() -> None:
    """A private key is read by cryptography."""
    assert "cryptography" in generate_loads(EXAMPLES / "next.key")


@pytest.mark.parametrize("form", ["fullchain.pem", "cert.pem", "DER"])
def test_generate_of_a_certificate_imports_no_cryptography(tmp_path: Path, form: str) -> None:
    """The strict DER walker reads plain certificates and chains (tlsagen.core.material)."""
    source = EXAMPLES / "mx.example.com" / form
    if form == "DER":
        pem = (EXAMPLES / "mx.example.com/cert.pem").read_bytes()
        source = tmp_path / "cert.der"
        source.write_bytes(material._pem_blocks("x", pem)[0][1])
    assert generate_loads(source) == []
