"""`tlsagen plan` and `tlsagen publish` from the command line against a real moto_server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tlsagen.cli.app import main
from tlsagen.core import material
from tlsagen.core.tlsa import Params, compute

EXAMPLE = Path(__file__).parents[3] / "docs/examples/mx.example.com/fullchain.pem"
NEXT_KEY = Path(__file__).parents[3] / "docs/examples/next.key"


def record_of(source: Path) -> str:
    return compute(material.read_source(str(source)), Params(3, 1, 1)).to_text()


@pytest.fixture
def site(moto: str, create_zone: Callable[..., str], tmp_path: Path) -> Path:
    create_zone("example.com.")
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        "[defaults]\nttl = 300\n"
        f"[providers.aws]\ntype = 'route53'\nendpoint-url = '{moto}'\ntimeout = 30\n"
        "[[services]]\nname = 'mail'\nhosts = ['mx1.example.com', 'mx2.example.com']\n"
        f"cert = '{EXAMPLE}'\nnext-key = '{NEXT_KEY}'\n"
    )
    return path


def tlsa_values(admin: Any, name: str) -> set[str]:
    zone_id = admin.list_hosted_zones()["HostedZones"][0]["Id"]
    sets = admin.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {
        r["Value"]
        for s in sets
        if s["Type"] == "TLSA" and s["Name"] == name
        for r in s["ResourceRecords"]
    }


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_publish_and_rerun(site: Path, admin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "--config", str(site), "--exit-code")[0] == 8
    code, out, err = run(capsys, "publish", "--config", str(site), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["applied"] == [{"provider": "aws", "zone": "example.com."}]
    assert report["servers"] == []  # Route 53 itself waits for INSYNC
    assert "is not DNSSEC-signed" in err  # moto zones are unsigned
    want = {record_of(EXAMPLE), record_of(NEXT_KEY)}
    assert tlsa_values(admin, "_25._tcp.mx1.example.com.") == want
    assert tlsa_values(admin, "_25._tcp.mx2.example.com.") == want
    code, _, err = run(capsys, "publish", "--config", str(site))
    assert code == 0 and "No changes" in err
    assert run(capsys, "plan", "--config", str(site), "--exit-code")[0] == 0


def test_no_credentials_is_exit_4_and_says_how(
    site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, out, err = run(capsys, "publish", "--config", str(site))
    assert code == 4, err
    assert "AWS_ACCESS_KEY_ID" in err and out == ""


def test_values_tlsagen_cannot_read_are_planned_and_replaced(
    site: Path, admin: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    zone_id = admin.list_hosted_zones()["HostedZones"][0]["Id"]
    typed = ["dane-ee spki sha2-256 ab", "3 1 1 ABCD"]
    record_set = {"Name": "_25._tcp.mx1.example.com.", "Type": "TLSA", "TTL": 300}
    record_set["ResourceRecords"] = [{"Value": value} for value in typed]
    change = {"Action": "UPSERT", "ResourceRecordSet": record_set}
    admin.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    code, out, err = run(capsys, "plan", "--config", str(site), "--json")
    assert code == 0, err
    mx1 = json.loads(out)["owners"][0]
    removed = {r["record"]: r["role"] for r in mx1["records"] if r["state"] == "remove"}
    assert removed["dane-ee spki sha2-256 ab"].startswith("malformed: it does not start with usage")
    assert removed["3 1 1 abcd"].startswith("not configured; unusable: TLSA record '3 1 1 abcd'")
    code, out, err = run(capsys, "plan", "--config", str(site))
    assert "  - dane-ee spki sha2-256 ab  (malformed: it does not start with usage" in out
    code, _, err = run(capsys, "publish", "--config", str(site))
    assert code == 0, err
    want = {record_of(EXAMPLE), record_of(NEXT_KEY)}
    assert tlsa_values(admin, "_25._tcp.mx1.example.com.") == want
    assert run(capsys, "plan", "--config", str(site), "--exit-code")[0] == 0
