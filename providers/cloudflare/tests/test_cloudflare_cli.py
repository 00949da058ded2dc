"""`tlsagen plan` -> `publish` -> `plan --exit-code` from the command line against the Cloudflare
emulator, then `check --chain` offline against what the emulator holds (a live check needs
Cloudflare's name servers, which serve nothing here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.emulators.cloudflare import CloudflareEmulator
from tests.emulators.fixtures import TOKEN_ENV
from tests.faults.common import CERT, NEXT_KEY, record_of, run_cli

HOSTS = ["mx1.example.com", "mx2.example.com"]


@pytest.fixture
def site(cloudflare_api: CloudflareEmulator, tmp_path: Path) -> Path:
    cloudflare_api.add_zone("example.com")
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = 300\nstate = '{tmp_path / 'state.json'}'\n"
        f"[providers.cf]\ntype = 'cloudflare'\ntoken = 'env:{TOKEN_ENV}'\n"
        f"endpoint-url = '{cloudflare_api.url}/client/v4'\nnameservers = []\n"
        f"[[services]]\nname = 'mail'\nhosts = {HOSTS}\ncert = '{CERT}'\nnext-key = '{NEXT_KEY}'\n"
    )
    return path


def test_plan_publish_plan_and_check_offline(
    site: Path, cloudflare_api: CloudflareEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "plan", "--config", site, "--exit-code").code == 8
    published = run_cli(capsys, "publish", "--config", site, "--json")
    assert published.code == 0, published.err
    assert json.loads(published.out)["applied"] == [{"provider": "cf", "zone": "example.com."}]
    want = {record_of(CERT), record_of(NEXT_KEY)}
    for host in HOSTS:
        assert cloudflare_api.held(f"_25._tcp.{host}") == want
    posts = [path for method, path in cloudflare_api.requests if method == "POST"]
    assert (
        posts == [path for path in posts if path.endswith("/dns_records/batch")] and len(posts) == 1
    )
    again = run_cli(capsys, "plan", "--config", site, "--exit-code")
    assert again.code == 0, again.err
    served = sorted(cloudflare_api.held("_25._tcp.mx1.example.com"))
    tlsa = [arg for text in served for arg in ("--tlsa", text)]
    checked = run_cli(capsys, "check", "--chain", CERT, "--name", "mx1.example.com", *tlsa)
    assert checked.code == 0, checked.err


def test_a_refused_token_is_exit_4_and_never_shown(
    site: Path, cloudflare_api: CloudflareEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudflare_api.token = "the-right-one"
    run = run_cli(capsys, "--debug", "publish", "--config", site)
    assert run.code == 4
    assert "Zone:DNS:Edit" in run.err
    assert "emulator-token" not in run.out + run.err
    assert cloudflare_api.records == {}


def test_cloudflare_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    listed = run_cli(capsys, "providers")
    assert "cloudflare\ttlsagen-cloudflare" in listed.out and "desec\ttlsagen-desec" in listed.out
