"""Warnings logged while `plan` reads the configuration and DNS (real BIND, RFC 2136) reach the
JSON and Markdown plans, not only stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_cli_publish import Site
from tests.testbed.model import DnsLab


def test_a_key_file_others_can_read_is_warned_in_every_format(
    dns_lab: DnsLab, fresh_host: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = Site(tmp_path, dns_lab.bind, fresh_host)
    site.key_file = tmp_path / "tsig.key"
    shutil.copy(dns_lab.bind.key.key_file, site.key_file)
    site.key_file.chmod(0o644)
    warning = f"TSIG key file {site.key_file} is readable by group or others"

    code, out, err = site.run(capsys, "plan", "--json")
    assert code == 0, err
    assert warning in err
    assert [w for w in json.loads(out)["warnings"] if w.startswith(warning)]

    code, out, _ = site.run(capsys, "plan", "--format", "markdown")
    assert code == 0
    assert f"> **Warning:** {warning}" in out

    site.key_file.chmod(0o600)
    code, out, err = site.run(capsys, "plan", "--json")
    assert code == 0 and "warning:" not in err
    assert json.loads(out)["warnings"] == []
