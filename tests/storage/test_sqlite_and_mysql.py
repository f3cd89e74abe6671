"""SQLite files that cannot be used get one line with the cause; MySQL/MariaDB URLs work."""

from __future__ import annotations

import os

import optuna
import pytest

import storage
from storage import StorageError


def _damage(path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = b"\xff" * 3000
    path.write_bytes(bytes(data))


def test_a_sqlite_file_damaged_mid_file_is_one_line_naming_it(tmp_path):
    url = f"sqlite:///{tmp_path}/h.db"
    # Written by plain Optuna (no WAL), so every page is in the file when it is damaged.
    study = optuna.create_study(study_name="s", storage=url)
    for value in range(50):  # enough rows that the middle of the file holds trial data
        study.enqueue_trial({"x": value})
    del study
    _damage(tmp_path / "h.db")
    with pytest.raises(StorageError) as caught:
        backend = storage.open_storage(url)
        optuna.load_study(study_name="s", storage=backend).get_trials()
    message = str(caught.value)
    assert message.startswith(f"the SQLite file '{tmp_path}/h.db' is damaged (")
    assert "\n" not in message and "max length" not in message


def test_a_file_that_is_not_a_database_is_called_damaged(tmp_path):
    (tmp_path / "notes.db").write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StorageError, match="is damaged \\(file is not a database\\)"):
        storage.open_storage(f"sqlite:///{tmp_path}/notes.db")


def test_a_read_only_folder_is_named_as_such(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder}/h.db"
    if os.geteuid() == 0:
        # root writes through file modes; a read-only mount stops everyone.
        import subprocess

        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
            capture_output=True,
        )
        if mounted.returncode != 0:
            pytest.skip("running as root and cannot mount a read-only folder")
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(StorageError) as caught:
            storage.open_storage(url)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    assert str(caught.value) == (
        f"cannot write the SQLite file '{folder}/h.db': its folder '{folder}' is read-only "
        "(SQLite also writes -wal and -shm files next to it); use a writable folder in --storage"
    )
    assert not (folder / "h.db").exists()


def test_checking_whether_a_storage_exists_creates_no_file(tmp_path):
    assert not storage.storage_exists(f"sqlite:///{tmp_path}/none.db")
    assert not storage.storage_exists(f"journal://{tmp_path}/none.log")
    assert list(tmp_path.iterdir()) == []
    storage.open_storage(f"sqlite:///{tmp_path}/made.db")
    assert storage.storage_exists(f"sqlite:///{tmp_path}/made.db")


def test_mysql_storage_runs_a_study_with_heartbeats(mysql_url, study_name):
    backend = storage.open_storage(mysql_url, heartbeat_interval=5)
    study = optuna.create_study(study_name=study_name, storage=backend, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    again = optuna.load_study(study_name=study_name, storage=mysql_url)  # plain Optuna too
    assert [t.state.name for t in again.trials] == ["COMPLETE"] * 3
    assert backend.get_heartbeat_interval() == 5


def test_a_sqlite_transaction_holds_the_write_lock_from_its_first_read(tmp_path):
    """Read-then-write steps (popping a queued trial) cannot interleave between processes."""
    import sqlite3

    import sqlalchemy

    backend = storage.open_storage(f"sqlite:///{tmp_path}/h.db")
    other_process = sqlite3.connect(tmp_path / "h.db", timeout=0.2, isolation_level=None)
    with backend.engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT count(*) FROM trials"))  # a read only
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_process.execute("BEGIN IMMEDIATE")
    other_process.execute("BEGIN IMMEDIATE")  # free again once that transaction ended
    other_process.execute("ROLLBACK")
    mode = other_process.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
