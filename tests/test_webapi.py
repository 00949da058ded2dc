"""tlsagen.net.webapi: Retry-After parsing, and the imports of the providers that use it."""

from __future__ import annotations

import ast
import email.utils
import time
from pathlib import Path

import pytest

from tlsagen.net.webapi import retry_after

ROOT = Path(__file__).parents[1]
# What a web API provider may import from tlsagen (issue 14 will narrow it to tlsagen.provider).
ALLOWED = {"provider", "records", "tlsa", "errors", "config_values", "files", "webapi"}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("7", 7.0), (" 0 ", 0.0), ("soon", None), ("-3", None), ("9" * 40, 1e8)],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after(later) or 0) <= 30
    assert retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0


@pytest.mark.parametrize("provider", ["cloudflare", "desec"])
def test_web_api_providers_import_only_the_provider_api(provider: str) -> None:
    for path in sorted((ROOT / "providers" / provider / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tlsagen."):
                assert node.module.split(".")[1] in ALLOWED, f"{path}: {node.module}"
