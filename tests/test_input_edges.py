"""Input edges: --timeout that is no finite number of seconds, state files with times and TTLs no
gate can add up, and `params` entries tlsagen cannot compute records for. Each is a usage error
(2) or bad input (3) with a one-line message naming where it is, never a traceback (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Cli, needs_provider
from tests.testbed.acme import CertDir, LocalCA, new_key
from tlsagen.core import material
from tlsagen.core.tlsa import Params, compute
from tlsagen.errors import InputError
from tlsagen.rollover import state

ZONE = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"


def _setup(tmp_path: Path, params: str = '["3 1 1"]') -> tuple[Path, CertDir]:
    """A configuration with one service (zone file provider), its certificate and zone."""
    found = CertDir(tmp_path / "acme", "mx.example.test", "certbot", LocalCA())
    found.issue(new_key())
    (tmp_path / "zone.db").write_text(ZONE)
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f'[defaults]\nstate = "{tmp_path / "state.json"}"\nparams = {params}\n'
        '[providers.dns]\ntype = "zonefile"\npath = "zone.db"\nzone = "example.test"\n'
        f'[[services]]\nname = "mail"\nhosts = ["mx.example.test"]\ncert = "{found.dir}"\n'
        "probe = false\n"
    )
    return config, found


COMMANDS = [
    ["publish"],
    ["check", "--chain", "{chain}"],
    ["rollover", "start", "mail"],
    ["rollover", "advance"],
    ["hook", "dehydrated", "exit_hook"],
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "-1", "1e300"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_timeout_that_is_no_finite_number_of_seconds_is_a_usage_error(
    tmp_path: Path, cli: Cli, command: list[str], value: str
) -> None:
    config, found = _setup(tmp_path)
    argv = [arg.format(chain=found.fullchain) for arg in command]
    done = cli(*argv, "--config", config, f"--timeout={value}")
    assert done.code == 2, done.err
    assert "--timeout" in done.err and "Traceback" not in done.err
    assert not (tmp_path / "state.json").exists()  # nothing was done


def _state_with(tmp_path: Path, found: CertDir, **changes: object) -> str:
    """A state file in which service mail's current record was published, with `changes`."""
    key = material.read_source(str(found.fullchain))
    published = {
        "record": compute(key, Params(3, 1, 1)).to_text(),
        "since": "2026-11-28T12:00:00+00:00",
        "ttl": 300,
    }
    memory: dict[str, object] = {"managed": True, "ttl": None, "ttl_until": None, "live": None}
    for field, value in changes.items():
        (published if field in published else memory)[field] = value
    memory["published"] = [published]
    text = json.dumps({"version": 1, "services": {"mail": memory}})
    (tmp_path / "state.json").write_text(text)
    return text


OUT_OF_RANGE = {
    "a record first seen in year 9999": {"since": "9999-12-31T23:59:59+00:00"},
    "a record first seen in year 1": {"since": "0001-01-01T00:00:00+00:00"},
    "a TTL of 1e20 s": {"ttl": 10**20},
    "a negative TTL": {"ttl": -300},
    "a lowered TTL of 1e20 s": {"ttl": 10**20, "ttl_until": "2026-11-28T12:00:00+00:00"},
    "a lowered TTL until year 9999": {"ttl": 600, "ttl_until": "9999-12-31T23:59:59+00:00"},
    "a live key since year 9999": {"live": {"keys": "ab", "since": "9999-12-31T23:59:59+00:00"}},
}


@needs_provider("zonefile")
@pytest.mark.parametrize("case", OUT_OF_RANGE)
@pytest.mark.parametrize("command", [["rollover", "status"], ["rollover", "advance"], ["plan"]])
def test_a_time_or_ttl_out_of_range_in_the_state_is_a_damaged_state(
    tmp_path: Path, cli: Cli, command: list[str], case: str
) -> None:
    config, found = _setup(tmp_path)
    text = _state_with(tmp_path, found, **OUT_OF_RANGE[case])
    done = cli(*command, "--config", config)
    assert done.code == 3, done.out + done.err
    line = done.err.strip()
    assert "\n" not in line and f"{tmp_path / 'state.json'} is damaged" in line
    assert "move it away" in line
    assert (tmp_path / "state.json").read_text() == text  # left as it is


@pytest.mark.parametrize(
    "text", ["2026-11-28T12:00:00+00:00", "1970-01-01T00:00:00+00:00", "8999-01-01T00:00:00Z"]
)
def test_times_in_range_are_read(text: str) -> None:
    document = {"version": 1, "services": {"m": {"live": {"keys": "ab", "since": text}}}}
    found = state.parse(json.dumps(document), "state.json")["m"].live
    assert found is not None and found.since.isoformat().startswith(text[:19])


@pytest.mark.parametrize(
    ("params", "table", "message"),
    [
        ('["3 1 9"]', "[defaults]", "'3 1 9': matching type 9 is not defined (use 0, 1, 2)"),
        ('["3 2 1"]', "[defaults]", "'3 2 1': selector 2 is not defined (use 0, 1)"),
        ('["4 1 1"]', "[defaults]", "'4 1 1': usage 4 is not defined (use 0, 1, 2, 3)"),
        ('["3 1 1", "255 1 1"]', "[defaults]", "usage 255 is not defined"),
        ('["3 1"]', "[defaults]", "must be three fields"),
        ('["x 1 1"]', "[defaults]", "unknown usage 'x'"),
        ("[3, 1, 1]", "[defaults]", "expected a list of strings"),
    ],
)
def test_a_bad_params_entry_names_the_file_table_and_key(
    tmp_path: Path, cli: Cli, params: str, table: str, message: str
) -> None:
    config, _ = _setup(tmp_path, params)
    done = cli("plan", "--config", config)
    assert done.code == 3, done.out + done.err
    line = done.err.strip()
    assert line.startswith(f"error: {config} {table} params: ") and message in line, line
    assert "\n" not in line


def test_a_bad_params_entry_of_a_service_names_the_service(tmp_path: Path, cli: Cli) -> None:
    config, _ = _setup(tmp_path)
    config.write_text(config.read_text() + 'params = ["3 1 3"]\n')
    done = cli("plan", "--config", config)
    assert done.code == 3
    assert f"{config} [[services]] mail params: '3 1 3': matching type 3" in done.err


def test_params_are_refused_at_load_not_when_computing() -> None:
    from tlsagen import config as config_module

    with pytest.raises(InputError, match=r"x.toml \[defaults\] params: '3 1 9'"):
        config_module.parse({"defaults": {"params": ["3 1 9"]}}, Path("x.toml"))
