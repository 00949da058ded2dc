"""`publish` that fails after a change was applied says what was applied and what is missing,
and `--json` prints its report anyway: two zone files, the second refused by its check command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Cli, needs_provider
from tests.testbed.lab import child_zone_text

CERT = Path(__file__).parents[1] / "docs/examples/mx.example.com/fullchain.pem"


@needs_provider("zonefile")
def test_a_failure_after_one_zone_was_updated_keeps_the_report(cli: Cli, tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    for zone in ("a.test.", "b.test."):
        (zones / f"{zone.rstrip('.')}.zone").write_text(child_zone_text(zone))
    refuse_b = "case $1 in b.test*) echo refused >&2; exit 1;; esac"
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"[providers.files]\ntype = 'zonefile'\npath = '{zones}'\n"
        f"check-command = ['sh', '-c', '{refuse_b}', 'sh', '{{zone}}', '{{file}}']\n\n"
        f"[[services]]\nname = 'a'\nhosts = ['mx1.a.test']\ncert = '{CERT}'\n\n"
        f"[[services]]\nname = 'b'\nhosts = ['mx1.b.test']\ncert = '{CERT}'\n"
    )

    run = cli("publish", "--config", config, "--json")

    assert run.code in (3, 4), run.err
    assert run.out, run.err
    report = json.loads(run.out)
    assert report["applied"] == [{"provider": "files", "zone": "a.test."}]
    error = run.err.strip().splitlines()[-1]
    assert "zones already updated: a.test.; not updated: b.test." in error, run.err
    assert "TLSA" in (zones / "a.test.zone").read_text()
    assert "TLSA" not in (zones / "b.test.zone").read_text()
