"""The `servers` marker follows the fixtures that start daemons, and the guard of
tests/testbed/tiers.py fails a test whose marker does not match what it starts; the
provider-free run hides every provider distribution."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import needs_provider
from tests.testbed.proc import DAEMONS

ROOT = Path(__file__).parents[1]

CONFTEST = """
import pytest
from tests.testbed.tiers import starts_servers

@pytest.fixture(scope="session")
@starts_servers
def lab():
    return "started"

@pytest.fixture
def through_lab(lab):
    return lab
"""

TESTS = """
import subprocess
import pytest

def test_uses_lab(lab): pass
def test_uses_lab_through_another_fixture(through_lab): pass
def test_runs_an_ordinary_program(): subprocess.run(["true"], check=True)

def test_starts_a_daemon_unmarked(daemon): subprocess.run([daemon], check=True)

@pytest.mark.servers
def test_starts_a_daemon_marked(daemon): subprocess.run([daemon], check=True)

@pytest.mark.servers
def test_marked_but_starts_nothing(): pass

def test_asks_for_lab_at_run_time_unmarked(request): request.getfixturevalue("lab")

@pytest.fixture
def daemon(tmp_path):
    path = tmp_path / "{daemon}"
    path.write_text("#!/bin/sh\\nexit 0\\n")
    path.chmod(0o755)
    return str(path)
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A test directory of its own, run with the tiers plugin (and no other conftest)."""
    pytester.makeini("[pytest]\nmarkers = servers: needs real servers\n")
    pytester.makeconftest(CONFTEST)
    assert "knotd" in DAEMONS
    pytester.makepyfile(test_inner=TESTS.replace("{daemon}", "knotd"))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    return pytester


def test_tests_using_a_server_fixture_are_marked_at_collection(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess(
        "-p", "tests.testbed.tiers", "--collect-only", "-q", "-m", "servers"
    )
    listed = [line for line in result.outlines if "::" in line]
    assert listed == [
        "test_inner.py::test_uses_lab",
        "test_inner.py::test_uses_lab_through_another_fixture",
        "test_inner.py::test_starts_a_daemon_marked",
        "test_inner.py::test_marked_but_starts_nothing",
    ]


def test_the_guard_fails_a_test_whose_marker_does_not_match(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-p", "tests.testbed.tiers", "-rA")
    result.stdout.fnmatch_lines_random(
        [
            "PASSED test_inner.py::test_uses_lab",
            "PASSED test_inner.py::test_uses_lab_through_another_fixture",
            "PASSED test_inner.py::test_runs_an_ordinary_program",
            "PASSED test_inner.py::test_starts_a_daemon_marked",
            "*::test_starts_a_daemon_unmarked is not marked `servers` but starts * (*/knotd)*",
            "*::test_marked_but_starts_nothing is marked `servers` but starts no server*",
            "*::test_asks_for_lab_at_run_time_unmarked is not marked `servers` but * (lab)*",
        ]
    )
    result.assert_outcomes(passed=4, failed=3)


PROBE = """
import importlib.metadata
points = importlib.metadata.entry_points(group="tlsagen.providers")
try:
    import tlsagen_zonefile
except ModuleNotFoundError:
    imported = False
else:
    imported = True
print(len(points), imported)
"""


@needs_provider("zonefile")
def test_without_providers_hides_every_provider_distribution() -> None:
    """What `-p tests.testbed.without_providers` loads (scripts/test's provider-free run) hides
    the installed providers from imports and entry points, in the processes tests start too."""
    hidden = str(ROOT / "tests/testbed/without_providers")

    def probe(pythonpath: str) -> list[str]:
        env = {**os.environ, "PYTHONPATH": pythonpath}
        done = subprocess.run(
            [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    count, imported = probe(str(ROOT))
    assert int(count) >= 1 and imported == "True"
    assert probe(os.pathsep.join([hidden, str(ROOT)])) == ["0", "False"]
