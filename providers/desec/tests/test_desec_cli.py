"""`tlsagen plan` -> `publish` -> `plan --exit-code` from the command line against the deSEC
emulator, then `check --chain` offline against what it holds (a live check needs deSEC's name
servers, which serve nothing here); and the minimum TTL as a configuration error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.emulators.desec import DesecEmulator
from tests.emulators.fixtures import TOKEN_ENV
from tests.faults.common import CERT, NEXT_KEY, record_of, run_cli

HOSTS = ["mx1.example.com", "mx2.example.com"]


def write_site(desec_api: DesecEmulator, directory: Path, ttl: int) -> Path:
    path = directory / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = {ttl}\nstate = '{directory / 'state.json'}'\n"
        f"[providers.desec]\ntype = 'desec'\ntoken = 'env:{TOKEN_ENV}'\n"
        f"endpoint-url = '{desec_api.url}/api/v1'\nnameservers = []\n"
        f"[[services]]\nname = 'mail'\nhosts = {HOSTS}\ncert = '{CERT}'\nnext-key = '{NEXT_KEY}'\n"
    )
    return path


@pytest.fixture
def domain(desec_api: DesecEmulator) -> str:
    desec_api.add_domain("example.com")
    return "example.com"


def test_plan_publish_plan_and_check_offline(
    desec_api: DesecEmulator, domain: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = write_site(desec_api, tmp_path, 3600)
    assert run_cli(capsys, "plan", "--config", site, "--exit-code").code == 8
    published = run_cli(capsys, "publish", "--config", site, "--json")
    assert published.code == 0, published.err
    assert json.loads(published.out)["applied"] == [{"provider": "desec", "zone": "example.com."}]
    want = {record_of(CERT), record_of(NEXT_KEY)}
    for host in HOSTS:
        assert desec_api.held(domain, f"_25._tcp.{host.removesuffix('.example.com')}") == want
    assert [method for method, _ in desec_api.requests if method != "GET"] == ["PATCH"]
    again = run_cli(capsys, "plan", "--config", site, "--exit-code")
    assert again.code == 0, again.err
    tlsa = [arg for text in sorted(want) for arg in ("--tlsa", text)]
    checked = run_cli(capsys, "check", "--chain", CERT, "--name", "mx1.example.com", *tlsa)
    assert checked.code == 0, checked.err


def test_a_ttl_below_desecs_minimum_is_exit_3_before_any_write(
    desec_api: DesecEmulator, domain: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = write_site(desec_api, tmp_path, 300)
    run = run_cli(capsys, "publish", "--config", site)
    assert run.code == 3, run.err
    (line,) = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert f"{site} ttl: 300 s" in line and f"{site} [defaults]" in line and "3600" in line
    assert desec_api.written() == 0
