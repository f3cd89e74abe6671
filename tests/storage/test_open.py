"""Storage URLs as a user types them: each backend opens, each mistake is one clear line."""

from __future__ import annotations

import optuna
import pytest

import storage
from storage import StorageError


def test_a_study_created_through_hpsearch_opens_with_plain_optuna(storage_url, study_name):
    backend = storage.open_storage(storage_url)
    study = optuna.create_study(study_name=study_name, storage=backend, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    if storage_url.startswith("journal://"):
        # Plain Optuna opens a journal file through its own classes.
        from optuna.storages.journal import JournalFileBackend

        plain = optuna.storages.JournalStorage(JournalFileBackend(storage_url[len("journal://") :]))
    else:
        plain = storage_url  # Optuna takes the database URL as it is
    again = optuna.load_study(study_name=study_name, storage=plain)
    assert len(again.trials) == 3 and again.direction == optuna.study.StudyDirection.MAXIMIZE


def test_redis_journal_storage(study_name):
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.exceptions.ConnectionError as exc:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"Redis is unreachable in CI: {exc}")
        pytest.skip(f"Redis is unreachable: {exc}")
    url = "redis://127.0.0.1:6379/15"
    study = optuna.create_study(study_name=study_name, storage=storage.open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    reopened = optuna.load_study(study_name=study_name, storage=storage.open_storage(url))
    assert len(reopened.trials) == 2


def test_sqlite_uses_write_ahead_logging(tmp_path):
    import sqlite3

    storage.open_storage(f"sqlite:///{tmp_path}/wal.db")
    mode = sqlite3.connect(tmp_path / "wal.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_heartbeats_are_configured_with_the_stale_trial_retry(tmp_path):
    backend = storage.open_storage(f"sqlite:///{tmp_path}/hb.db", heartbeat_interval=5)
    assert backend.get_heartbeat_interval() == 5
    assert isinstance(
        backend.get_heartbeat_stale_trial_callback(),
        optuna.storages.RetryHeartbeatStaleTrialCallback,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "storage URL 'not a url' is not a valid URL; accepted: sqlite:///FILE.db"),
        ("mssql://root@localhost/db", "uses unsupported database 'mssql'"),
        ("mysql://root@localhost/db", "needs a MySQL driver: use mysql\\+pymysql://"),
        ("postgresql+nosuchdriver://u@localhost/db", "names a driver that is not installed"),
        (
            "sqlite:////no/such/folder/x.db",
            "points into folder '/no/such/folder', which does not exist",
        ),
    ],
)
def test_malformed_urls_and_unknown_drivers(url, message):
    with pytest.raises(StorageError, match=message):
        storage.open_storage(url)


def test_missing_database_and_refused_connection(postgres_url):
    base = postgres_url.rsplit("/", 1)[0]
    with pytest.raises(
        StorageError, match=r'cannot open storage .*database "no_such_db" does not exist'
    ):
        storage.open_storage(f"{base}/no_such_db")
    with pytest.raises(StorageError, match="cannot open storage .*127.0.0.1.*port 1"):
        storage.open_storage("postgresql+psycopg://postgres@127.0.0.1:1/test")


def test_unknown_user_fails_to_authenticate_and_the_password_is_never_shown(postgres_url):
    rest = postgres_url.split("@", 1)[1]
    with pytest.raises(StorageError) as caught:
        storage.open_storage(f"postgresql+psycopg://nosuchuser:s3cret@{rest}")
    message = str(caught.value)
    assert 'role "nosuchuser" does not exist' in message
    assert "s3cret" not in message and "***" in message


def test_postgres_connections_have_a_statement_timeout(postgres_url):
    import sqlalchemy

    backend = storage.open_storage(postgres_url)
    with backend.engine.connect() as connection:
        value = connection.execute(sqlalchemy.text("SHOW statement_timeout")).scalar()
    assert value == "1min"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://me:s3cret@db/x", "postgresql+psycopg://me:***@db/x"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("journal:///tmp/a.log", "journal:///tmp/a.log"),
        ("sqlite:///a.db", "sqlite:///a.db"),
    ],
)
def test_mask_password_for_every_url_form(url, shown):
    assert storage.mask_password(url) == shown
