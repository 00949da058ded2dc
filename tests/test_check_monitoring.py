"""`check --format nagios|prometheus` on the report of real checks (BIND + Unbound + Postfix),
and the mapping of check's problem kinds to plugin states."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers import verify_units
from tests.test_check_live import MX1, Bed, Cli, owner, publish, rec
from tests.testbed import DnsLab
from tests.testbed.postfix import Chain, PostfixLab
from tlsagen.check import Problem
from tlsagen.cli.monitoring import CRITICAL, OK, UNKNOWN, WARNING, nagios_state


@pytest.fixture(scope="module")
def bed(dns_lab: DnsLab, postfix_lab: PostfixLab) -> Bed:
    return Bed(dns_lab, postfix_lab)


PERFDATA = re.compile(r"'(\w+)_([\w.-]+)'=(-?\d+\.\d\d);;;")


def check(cli: Cli, bed: Bed, fmt: str, *args: str) -> tuple[int, str, dict[str, object]]:
    """One check in `fmt`, and the same check as JSON to compare with."""
    target = [f"{MX1}:{bed.mail.starttls_port}", "--starttls", "smtp", *bed.dns_args(), *args]
    run = cli("check", *target, "--format", fmt)
    assert run.err == "", run.err
    return run.code, run.out, json.loads(cli("check", *target, "--json").out)


def days_until(when: datetime) -> float:
    return (when - datetime.now(UTC)).total_seconds() / 86400


def leaf_expiry(chain: Chain) -> datetime:
    return x509.load_der_x509_certificate(chain.leaf).not_valid_after_utc


def both_keys(bed: Bed) -> list[str]:
    return [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]


def promtool(text: str) -> None:
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def samples(text: str, name: str) -> dict[str, str]:
    """The series of one metric family: labels text -> value."""
    found = re.findall(rf"^{name}\{{(.*)\}} (\S+)$", text, re.MULTILINE)
    return dict(found)


def test_nagios_ok_with_days_until_the_certificate_and_the_rrsigs_expire(
    cli: Cli, bed: Bed
) -> None:
    publish(bed, owner(bed.mail.starttls_port), both_keys(bed))
    code, out, data = check(cli, bed, "nagios")
    assert code == OK
    status, *details = out.splitlines()
    assert status.startswith("DANE OK - 1 host(s), 2 live key(s) match their TLSA records | ")
    perf = {(what, host): float(days) for what, host, days in PERFDATA.findall(status)}
    assert set(perf) == {("cert_days", MX1), ("rrsig_days", MX1)}
    certs = [leaf_expiry(chain) for chain in (bed.mail.rsa, bed.mail.ecdsa)]
    assert perf["cert_days", MX1] == pytest.approx(days_until(min(certs)), abs=0.02)
    host = data["targets"][0]["hosts"][0]  # type: ignore[index]
    sigs = [datetime.fromisoformat(s["rrsig_expires"]) for s in host["servers"]]
    assert perf["rrsig_days", MX1] == pytest.approx(days_until(min(sigs)), abs=0.02)
    assert f"_{bed.mail.starttls_port}._tcp.{MX1}.: secure, 2 record(s)" in details


def test_nagios_critical_when_a_live_key_has_no_record(cli: Cli, bed: Bed) -> None:
    publish(bed, owner(bed.mail.starttls_port), [rec("3 1 1", bed.mail.ecdsa)])
    code, out, _ = check(cli, bed, "nagios")
    assert code == CRITICAL
    status, *details = out.splitlines()
    assert re.match(
        r"DANE CRITICAL - 127\.0\.0\.1 RSA 2048: the live key matches no record", status
    )
    assert details[0].startswith("mismatch: ") and "|" not in "".join(details)


def test_nagios_warning_when_an_rrsig_expires_too_soon(cli: Cli, bed: Bed) -> None:
    publish(bed, owner(bed.mail.starttls_port), both_keys(bed))
    code, out, _ = check(cli, bed, "nagios", "--sig-margin", str(10**9))
    assert code == WARNING
    assert out.startswith("DANE WARNING - authoritative server ")
    assert "the TLSA RRSIG expires at" in out.splitlines()[0]


def test_nagios_unknown_when_there_is_nothing_to_check(cli: Cli, tmp_path: Path) -> None:
    run = cli("check", "--format", "nagios", "--config", tmp_path / "none.toml")
    assert run.code == UNKNOWN and run.err == ""
    assert (
        run.out == f"DANE UNKNOWN - {tmp_path / 'none.toml'}: cannot read the configuration "
        "(No such file or directory)\n"
    )


@pytest.mark.parametrize(
    ("kinds", "state"),
    [
        ((), OK),
        (("note",), OK),
        (("note", "warning"), WARNING),
        (("warning", "failure"), CRITICAL),
        (("mismatch",), CRITICAL),
        (("bogus", "note"), CRITICAL),
        (("mismatch", "internal"), UNKNOWN),  # a bug left part of the check undone
    ],
)
def test_problem_kinds_map_to_plugin_states(kinds: tuple[str, ...], state: int) -> None:
    assert nagios_state([Problem(kind, "text") for kind in kinds]) == state


def test_prometheus_series_pass_promtool_and_say_what_matches(cli: Cli, bed: Bed) -> None:
    records = [rec("3 1 1", bed.mail.ecdsa), rec("3 0 1", bed.mail.ecdsa)]
    publish(bed, owner(bed.mail.starttls_port), records)
    code, out, data = check(cli, bed, "prometheus")
    assert code == 0  # the mismatch is in the metrics; exit 0 says they were written
    promtool(out)
    ids = f'host="{MX1}.",owner="{owner(bed.mail.starttls_port)}"'
    assert samples(out, "tlsagen_check_exit_code") == {} and "tlsagen_check_exit_code 7" in out
    assert samples(out, "tlsagen_tlsa_dnssec_status") == {
        f'{ids},status="{status}"': str(int(status == "secure"))
        for status in ("secure", "insecure", "bogus", "indeterminate")
    }
    keys = samples(out, "tlsagen_key_match")
    assert {k.split('key="')[1].split()[0]: v for k, v in keys.items()} == {"EC": "1", "RSA": "0"}
    matches = samples(out, "tlsagen_record_match")
    assert len(matches) == 2 * len(records)  # every record, against each key type
    for key_type, value in (("EC", "1"), ("RSA", "0")):
        found = [v for k, v in matches.items() if f'key="{key_type} ' in k]
        assert found == [value, value], matches
    host = data["targets"][0]["hosts"][0]  # type: ignore[index]
    expiries = samples(out, "tlsagen_tlsa_rrsig_expiry_timestamp_seconds")
    assert sorted(float(v) for v in expiries.values()) == sorted(
        datetime.fromisoformat(s["rrsig_expires"]).timestamp() for s in host["servers"]
    )
    certs = samples(out, "tlsagen_certificate_expiry_timestamp_seconds")
    assert sorted(float(v) for v in certs.values()) == sorted(
        leaf_expiry(chain).timestamp() for chain in (bed.mail.rsa, bed.mail.ecdsa)
    )


MONITORING = Path(__file__).parents[1] / "docs/monitoring.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", MONITORING.read_text(), re.M | re.S)


def test_the_documented_alert_rules_pass_promtool(tmp_path: Path) -> None:
    (rules,) = blocks("yaml")
    path = tmp_path / "tlsagen.rules.yml"
    path.write_text(rules)
    done = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_the_documented_timer_units_verify(tmp_path: Path) -> None:
    units = blocks("ini")
    assert len(units) == 2
    paths = []
    for unit in units:
        first, _, _ = unit.partition("\n")
        path = tmp_path / Path(first.removeprefix("# ")).name
        path.write_text(unit)
        paths.append(path)
    verify_units(paths)
