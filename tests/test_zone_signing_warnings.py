"""A zone that is not DNSSEC-signed is warned once per zone, by the RFC 2136 provider (real BIND:
an unsigned zone, and the lab's signed zones on BIND and Knot) and the zone-file provider (files
with and without a DNSKEY), and every warning stderr shows reaches `plan --json`, the Markdown
plan, `publish --json`, `publish --dry-run --json` and `rollover status --json`."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import needs_provider
from tests.test_cli_publish import EXAMPLE, Site
from tests.testbed.bind import make_tsig_key, start_zones_primary
from tests.testbed.lab import child_zone_text
from tests.testbed.model import DnsLab, Server, TsigKey
from tests.testbed.ports import free_port
from tests.testbed.tiers import starts_servers
from tlsagen.cli.app import main

UNSIGNED_ZONES = ("plain.test.", "plain2.test.")
RFC2136_UNSIGNED = re.compile(
    r"zone \S+ has no DNSKEY on its primary 127\.0\.0\.1:\d+, so it is not DNSSEC-signed: "
    r"TLSA in an unsigned zone does nothing; .*"
)
ZONEFILE_UNSIGNED = re.compile(
    r"zone file \S+ holds no DNSKEY for example\.com\., so tlsagen cannot tell that the zone is "
    r"DNSSEC-signed: TLSA in an unsigned zone does nothing; .*signed-by = \"server\" in .*"
)
MARKDOWN_WARNING = "> **Warning:** "


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def warned(text: str, pattern: re.Pattern[str], prefix: str = "warning: ") -> list[str]:
    """The lines of `text` that are the warning `pattern` after `prefix`."""
    lines = text.splitlines()
    return [
        line for line in lines if line.startswith(prefix) and pattern.fullmatch(line[len(prefix) :])
    ]


def json_warnings(out: str, pattern: re.Pattern[str]) -> list[str]:
    return [w for w in json.loads(out)["warnings"] if pattern.fullmatch(w)]


# --- RFC 2136 against real BIND ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Unsigned:
    server: Server
    key: TsigKey


@pytest.fixture(scope="module")
@starts_servers
def unsigned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unsigned]:
    """A real BIND primary serving two unsigned zones, updatable and readable with TSIG."""
    directory = tmp_path_factory.mktemp("unsigned-bind")
    key = make_tsig_key("plain-key.", directory)
    zones = {zone: child_zone_text(zone) for zone in UNSIGNED_ZONES}
    with start_zones_primary(directory / "named", free_port(), zones, key) as proc:
        yield Unsigned(proc.server, key)


def rfc2136_config(tmp_path: Path, unsigned: Unsigned) -> Path:
    """Two owners in each unsigned zone."""
    address = unsigned.server.address()
    hosts = ", ".join(f"'{host}.{zone}'" for zone in UNSIGNED_ZONES for host in ("mx1", "mx2"))
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"[providers.dns]\ntype = 'rfc2136'\nserver = '{address}'\n"
        f"key-file = '{unsigned.key.key_file}'\nnameservers = ['{address}']\ntimeout = 3\n\n"
        f"[[services]]\nname = 'mail'\nhosts = [{hosts}]\ncert = '{EXAMPLE}'\n"
    )
    return path


def test_an_unsigned_zone_is_warned_once_per_zone_in_every_plan_format(
    unsigned: Unsigned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = rfc2136_config(tmp_path, unsigned)
    code, out, err = run(capsys, config, "plan")
    assert code == 0, err
    zones = [line.split()[2] for line in warned(err, RFC2136_UNSIGNED)]  # "warning: zone Z ..."
    assert sorted(zones) == list(UNSIGNED_ZONES)  # once per zone, not per owner

    code, out, err = run(capsys, config, "plan", "--json")
    assert code == 0, err
    assert len(warned(err, RFC2136_UNSIGNED)) == 2
    assert len(json_warnings(out, RFC2136_UNSIGNED)) == 2

    code, out, _ = run(capsys, config, "plan", "--format", "markdown")
    assert code == 0
    shown = warned(out, RFC2136_UNSIGNED, MARKDOWN_WARNING)
    assert len(shown) == 2
    assert out.index(shown[-1]) < out.index("| owner | service | zone | action | records |")


def test_publish_json_and_dry_run_json_carry_the_unsigned_zone_warning(
    unsigned: Unsigned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = rfc2136_config(tmp_path, unsigned)
    code, out, err = run(capsys, config, "publish", "--dry-run", "--json")
    assert code == 0, err
    assert len(json_warnings(out, RFC2136_UNSIGNED)) == 2
    assert json.loads(out)["changes_pending"]

    code, out, err = run(capsys, config, "publish", "--json", "--timeout", "30")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["applied"]) == 2  # it did publish, in both zones
    assert len(json_warnings(out, RFC2136_UNSIGNED)) == 2
    assert len(warned(err, RFC2136_UNSIGNED)) == 2

    code, out, err = run(capsys, config, "rollover", "status", "--json")
    assert code == 0, err
    assert len(json_warnings(out, RFC2136_UNSIGNED)) == 2


@pytest.mark.parametrize("server", ["bind", "knot"])
def test_a_signed_zone_is_not_warned(
    server: str,
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = Site(tmp_path, getattr(dns_lab, server), fresh_host)
    code, out, err = site.run(capsys, "plan", "--json")
    assert code == 0, err
    assert "DNSKEY" not in err
    assert json.loads(out)["warnings"] == []


def test_publish_json_carries_a_warning_logged_while_waiting(
    dns_lab: DnsLab, tmp_path: Path, fresh_host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only the plan's warnings: the lab's Knot, listed as a nameserver of the BIND zone,
    answers REFUSED while publish waits, and the JSON report says so as stderr does."""
    knot = dns_lab.knot.primary
    zone = dataclasses.replace(dns_lab.bind, servers=(*dns_lab.bind.servers, knot))
    site = Site(tmp_path, zone, fresh_host)
    code, out, err = site.run(capsys, "publish", "--json", "--timeout", "30")
    assert code == 4, err
    refused = f"server {knot.address()} answered REFUSED for _25._tcp.{site.host} in zone"
    assert f"warning: {refused}" in err
    assert [w for w in json.loads(out)["warnings"] if w.startswith(refused)]


# --- zone files --------------------------------------------------------------------------------

ZONE_TEXT = """$ORIGIN example.com.
$TTL 3600
@       SOA ns1 hostmaster 2026112801 3h 1h 1w 1h
        NS ns1
ns1     A 192.0.2.1
mx1     A 192.0.2.25
mx2     A 192.0.2.26
"""


def key_file(directory: Path) -> Path:
    """The public key file BIND's dnssec-keygen writes for example.com. (its DNSKEY record,
    after comment lines)."""
    keygen = ["dnssec-keygen", "-q", "-K", str(directory), "-a", "ECDSAP256SHA256", "-f", "KSK"]
    done = subprocess.run([*keygen, "example.com."], capture_output=True, text=True, check=True)
    return directory / f"{done.stdout.strip()}.key"


def zonefile_config(tmp_path: Path, zone_text: str, extra: str = "") -> Path:
    (tmp_path / "example.com.zone").write_text(zone_text)
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state.json'}'\n\n"
        f"[providers.git]\ntype = 'zonefile'\npath = 'example.com.zone'\n{extra}\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.com', 'mx2.example.com']\n"
        f"cert = '{EXAMPLE}'\n"
    )
    return path


@needs_provider("zonefile")
def test_a_zone_file_without_dnskey_is_warned_once_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = zonefile_config(tmp_path, ZONE_TEXT)
    code, out, err = run(capsys, config, "plan", "--json")
    assert code == 0, err
    assert len(warned(err, ZONEFILE_UNSIGNED)) == 1  # one zone, two owners: one warning
    assert len(json_warnings(out, ZONEFILE_UNSIGNED)) == 1

    code, out, _ = run(capsys, config, "plan", "--format", "markdown")
    assert len(warned(out, ZONEFILE_UNSIGNED, MARKDOWN_WARNING)) == 1

    code, out, _ = run(capsys, config, "publish", "--dry-run", "--json")
    assert code == 0 and len(json_warnings(out, ZONEFILE_UNSIGNED)) == 1
    assert "TLSA" not in (tmp_path / "example.com.zone").read_text()

    code, out, err = run(capsys, config, "publish", "--json")
    assert code == 0, err
    assert json.loads(out)["applied"] == [{"provider": "git", "zone": "example.com."}]
    assert len(json_warnings(out, ZONEFILE_UNSIGNED)) == 1

    code, out, _ = run(capsys, config, "rollover", "status", "--json")
    assert code == 0 and len(json_warnings(out, ZONEFILE_UNSIGNED)) == 1


def dnskey_in_the_file(directory: Path) -> tuple[str, str]:
    return ZONE_TEXT + key_file(directory).read_text(), ""


def dnskey_included(directory: Path) -> tuple[str, str]:
    """As BIND operators keep keys: `$INCLUDE Kexample.com.+013+NNNNN.key`."""
    return ZONE_TEXT + f"$INCLUDE {key_file(directory).name}\n", ""


def signed_by_the_server(directory: Path) -> tuple[str, str]:
    return ZONE_TEXT, "signed-by = 'server'\n"


@needs_provider("zonefile")
@pytest.mark.parametrize("setup", [dnskey_in_the_file, dnskey_included, signed_by_the_server])
def test_a_zone_file_with_its_dnskey_or_signed_by_the_server_is_not_warned(
    setup: Callable[[Path], tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = zonefile_config(tmp_path, *setup(tmp_path))
    for args in (("plan", "--json"), ("publish", "--json")):
        code, out, err = run(capsys, config, *args)
        assert code == 0, err
        assert "DNSKEY" not in err and json.loads(out)["warnings"] == []


@needs_provider("zonefile")
def test_a_dnskey_below_the_apex_does_not_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    below = key_file(tmp_path).read_text().replace("example.com. IN", "sub.example.com. IN")
    config = zonefile_config(tmp_path, ZONE_TEXT + below)
    code, out, err = run(capsys, config, "plan", "--json")
    assert code == 0, err
    assert len(json_warnings(out, ZONEFILE_UNSIGNED)) == 1


@needs_provider("zonefile")
def test_an_unknown_signed_by_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = zonefile_config(tmp_path, ZONE_TEXT, "signed-by = 'bind'\n")
    code, out, err = run(capsys, config, "plan")
    assert code == 3 and out == ""
    assert err.strip() == (
        f"error: {config} [providers.git] signed-by: 'bind' is not one of file, server"
    )
