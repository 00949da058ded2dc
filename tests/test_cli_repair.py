"""`tlsagen plan` and `publish` on TLSA records tlsagen would never write, planted with the real
`nsupdate` into BIND and Knot; and a wrong TSIG key found by `plan`, not first by `publish`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.test_cli_publish import EXAMPLE, Site, hash_of
from tests.testbed import nsupdate
from tests.testbed.bind import make_tsig_key
from tests.testbed.knot import knotc_replace
from tests.testbed.model import DnsLab, Zone

SHORT = "3 1 1 abcd"  # a SHA-256 digest of 2 octets: dnspython refuses to parse it
UNDEFINED = "4 2 3 " + "ab" * 32  # fields no RFC defines


@pytest.fixture(params=["bind", "knot"])
def site(request: pytest.FixtureRequest, dns_lab: DnsLab, tmp_path: Path, fresh_host: str) -> Site:
    zone: Zone = getattr(dns_lab, request.param)
    return Site(tmp_path, zone, fresh_host)


def test_plan_shows_unusable_records_and_publish_replaces_them(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    nsupdate(site.zone, [f"update add {site.owner} 60 TLSA {text}" for text in (SHORT, UNDEFINED)])
    code, out, err = site.run(capsys, "plan")
    assert code == 0, err
    assert f"{site.owner} (mail, zone {site.zone.name}, provider dns): update" in out
    assert f"  - {SHORT}  (not configured; unusable: TLSA record '{SHORT}': matching type 1" in out
    assert f"  - {UNDEFINED}  (not configured; unusable: usage 4 is not defined)" in out
    assert f"  + {hash_of(EXAMPLE)}  (current: {EXAMPLE})" in out
    code, out, _ = site.run(capsys, "plan", "--json")
    (owner,) = json.loads(out)["owners"]
    assert {(r["state"], r["record"]) for r in owner["records"]} == {
        ("remove", SHORT),
        ("remove", UNDEFINED),
        ("add", hash_of(EXAMPLE)),
    }
    code, out, _ = site.run(capsys, "plan", "--format", "markdown")
    assert f"`- {SHORT}` not configured; unusable: TLSA record" in out
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    for server in site.zone.servers:
        assert site.served(server) == {hash_of(EXAMPLE)}
    assert site.run(capsys, "plan", "--exit-code")[0] == 0


def test_a_wrong_secret_fails_plan_naming_the_key_not_the_secret(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "wrong").mkdir(mode=0o700)
    wrong = make_tsig_key(site.zone.key.name, tmp_path / "wrong")
    site.key_file = wrong.key_file
    code, out, err = site.run(capsys, "plan")
    assert code == 4 and out == ""
    assert f"rejected the signature of TSIG key {site.zone.key.name} (BADSIG)" in err
    for secret in (wrong.secret, site.zone.key.secret):
        assert secret not in err and base64.b64decode(secret).hex() not in err


def test_rdata_under_3_octets_on_knot_is_planned_and_replaced(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = Site(tmp_path, dns_lab.knot, fresh_host)
    knotc_replace(dns_lab.workdir / "knot", site.zone.name, site.owner.name, "TLSA", ["\\# 2 0301"])
    code, out, err = site.run(capsys, "plan", "--exit-code")
    assert code == 8, err
    assert "  - \\# 2 0301  (malformed: 2 octet(s) of data: a TLSA record needs at least 3" in out
    code, out, err = site.run(capsys, "publish")
    assert code == 0, err
    assert site.served(site.zone.primary) == {hash_of(EXAMPLE)}
    assert site.run(capsys, "plan", "--exit-code")[0] == 0
