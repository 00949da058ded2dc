"""Fixtures shared by the tests of `tlsagen generate` and its core."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import Cli, Pki, Run, make_pki
from tlsagen.cli.app import main
from tlsagen.cli.generate import PASSWORD_ENV

# No per-example deadline: on a loaded two-core CI machine a slow example is not a failure.
settings.register_profile("tlsagen", deadline=None)
settings.load_profile("tlsagen")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `tlsagen ARGS...` in-process; the key password comes only from what a test sets."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)

    def run(*args: str | Path) -> Run:
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run
