"""Shared fixtures for the ``search`` tests: a SQLite storage per test."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from cli_helpers import tiny_config

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite storage URL in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's temporary folder, made current, holding ``tiny.toml`` (:func:`tiny_config`)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(tiny_config())
    return tmp_path
