"""Shared fixtures for the ``search`` tests: a SQLite storage per test."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite storage URL in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'studies.db'}"
