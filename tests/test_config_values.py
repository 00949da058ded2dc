"""Secrets by reference, and the permission warning for files holding them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tlsagen.config_values import check_secret_file, read_secret
from tlsagen.errors import InputError


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSIG_SECRET", "c2VjcmV0\n")
    assert read_secret("env:TSIG_SECRET", "where", tmp_path) == "c2VjcmV0"
    (tmp_path / "s").write_text("ZmlsZQ==\n")
    (tmp_path / "s").chmod(0o600)
    assert read_secret("file:s", "where", tmp_path) == "ZmlsZQ=="


@pytest.mark.parametrize("reference", ["c2VjcmV0", "env:", "vault:x"])
def test_inline_secret_is_refused_without_echoing_it(reference: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_secret(reference, "cfg [providers.p] secret", tmp_path)
    assert "by reference" in str(caught.value)
    if len(reference) > 6:
        assert reference not in str(caught.value)


def test_unset_env_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(InputError, match="NOPE is not set"):
        read_secret("env:NOPE", "w", tmp_path)
    with pytest.raises(InputError, match="cannot read secret file"):
        read_secret("file:absent", "w", tmp_path)


def test_exposed_secret_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "key"
    path.write_text("x")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="tlsagen"):
        check_secret_file(path, "key file")
    assert "readable by group or others" in caplog.text
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="tlsagen"):
        check_secret_file(path, "key file")
    assert caplog.text == ""
