"""The core stays importable without the CLI stack (typer, rich, click) or any provider SDK."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "tlsagen.tlsa",
    "tlsagen.material",
    "tlsagen.records",
    "tlsagen.policy",
    "tlsagen.formats",
    "tlsagen.errors",
    "tlsagen.provider",
    "tlsagen.config_values",
    "tlsagen.testing",
]
FORBIDDEN = ["typer", "rich", "click", "boto3"]


def forbidden_loaded_by(modules: list[str]) -> list[str]:
    """The FORBIDDEN modules in sys.modules after importing `modules` in a fresh interpreter."""
    code = f"import sys, json, {', '.join(modules)}\n" + (
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found: list[str] = json.loads(done.stdout)
    return found


def test_core_imports_no_cli_or_provider_stack() -> None:
    assert forbidden_loaded_by(CORE) == []


def test_the_check_sees_an_import() -> None:
    assert forbidden_loaded_by(["tlsagen.cli.app"]) != []
