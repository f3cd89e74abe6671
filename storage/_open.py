"""Turn a storage URL into an Optuna storage."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from storage._retry import ResilientRDBStorage
from storage.errors import StorageError

DEFAULT_STORAGE_URL = "sqlite:///hpsearch.db"

_ACCEPTED = (
    "sqlite:///FILE.db, postgresql+psycopg://USER@HOST/DB, journal:///FILE.log, redis://HOST:6379/0"
)
_JOURNAL_PREFIX = "journal://"
_REDIS_PREFIXES = ("redis://", "rediss://")

logger = logging.getLogger("hpsearch.storage")


def parse_storage_url(url: str) -> URL:
    """Parse and check a storage URL.

    Args:
        url: A SQLAlchemy database URL.

    Returns:
        The parsed URL.

    Raises:
        StorageError: The URL is malformed or names a database this tool does not support.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(
            f"storage URL {url!r} is not a valid URL; accepted: {_ACCEPTED}"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StorageError(
            f"storage URL {url!r} uses unsupported database {backend!r}; accepted: {_ACCEPTED}"
        )
    return parsed


def _engine_kwargs(parsed: URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        # The busy timeout lets a few local processes share one file: a writer waits for
        # the lock instead of failing at once with "database is locked".
        return {"connect_args": {"timeout": 60}}
    return {
        "pool_pre_ping": True,
        "pool_size": 2,
        "max_overflow": 2,
        # A statement stuck behind a lock or a dying server fails after a minute instead
        # of hanging a worker forever; the retry layer then takes over.
        "connect_args": {"connect_timeout": 10, "options": "-c statement_timeout=60000"},
    }


def open_storage(
    url: str = DEFAULT_STORAGE_URL,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    retry_stale_trials: int | None = 3,
) -> optuna.storages.BaseStorage:
    """Open the Optuna storage behind ``url``.

    Args:
        url: ``sqlite:///file.db`` (default) or ``postgresql+psycopg://user@host/db``.
        heartbeat_interval: Seconds between a running trial's heartbeats; ``None`` turns
            heartbeats off. A trial silent for ``grace_period`` is failed as stale.
        grace_period: Seconds without a heartbeat before a trial counts as dead
            (default: twice the interval).
        retry_stale_trials: How many times a stale trial's parameters are queued again
            (Optuna's ``RetryHeartbeatStaleTrialCallback``); ``0`` never re-queues.

    Returns:
        An Optuna storage that ``optuna.load_study`` and optuna-dashboard also read.

    Raises:
        StorageError: The URL is bad or the database cannot be reached.
    """
    if url.startswith(_JOURNAL_PREFIX) or url.startswith(_REDIS_PREFIXES):
        if heartbeat_interval is not None:
            logger.warning(
                "heartbeats need a database storage (sqlite or postgresql); with %s a crashed "
                "worker's trial stays RUNNING",
                url.split("://", 1)[0],
            )
        return _open_journal(url)
    parsed = parse_storage_url(url)
    shown = parsed.render_as_string(hide_password=True)  # never print a password
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise StorageError(
                f"storage URL {shown!r} points into folder {str(folder)!r}, which does not exist"
            )
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental in Optuna 5; hpsearch relies on them on
            # purpose (crashed workers' trials must fail and be retried), so no warning.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat: dict[str, Any] = {}
            if heartbeat_interval is not None:
                heartbeat = {
                    "heartbeat_interval": heartbeat_interval,
                    "grace_period": grace_period,
                }
                if retry_stale_trials:
                    heartbeat["heartbeat_stale_trial_callback"] = (
                        optuna.storages.RetryHeartbeatStaleTrialCallback(
                            max_retry=retry_stale_trials
                        )
                    )
            storage = ResilientRDBStorage(url, engine_kwargs=_engine_kwargs(parsed), **heartbeat)
    except NoSuchModuleError:
        raise StorageError(
            f"storage URL {shown!r} names a driver that is not installed; accepted: {_ACCEPTED}"
        ) from None
    except (SQLAlchemyError, ImportError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(f"cannot open storage {shown!r}: {reason}") from None
    if parsed.get_backend_name() == "sqlite":
        with storage.engine.connect() as connection:
            # WAL lets readers (the dashboard, `hpsearch status`) run while a worker writes.
            connection.execute(sqlalchemy.text("PRAGMA journal_mode=WAL"))
    return storage


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    if url.startswith(_JOURNAL_PREFIX):
        return url
    if url.startswith(_REDIS_PREFIXES):
        scheme, rest = url.split("://", 1)
        if "@" in rest:
            credentials, host = rest.rsplit("@", 1)
            user = credentials.split(":", 1)[0] if ":" in credentials else ""
            return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _journal_path(url: str) -> Path:
    path = url[len(_JOURNAL_PREFIX) :]
    if not path:
        raise StorageError(f"storage URL {url!r} names no file; accepted: journal:///FILE.log")
    return Path(path).expanduser().resolve()


def _open_journal(url: str) -> optuna.storages.BaseStorage:
    """An Optuna journal storage: an append-only log in a file or in Redis."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    if url.startswith(_JOURNAL_PREFIX):
        path = _journal_path(url)
        if not path.parent.is_dir():
            raise StorageError(
                f"storage URL {url!r} points into folder {str(path.parent)!r}, which does not exist"
            )
        return JournalStorage(JournalFileBackend(str(path)))
    try:
        with warnings.catch_warnings():  # experimental in Optuna 5; chosen on purpose
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = JournalRedisBackend(url)
        backend._redis.ping()  # fail now, with the URL, rather than at the first trial
    except ImportError:
        raise StorageError(
            f"storage URL {url!r} needs the redis package: pip install redis"
        ) from None
    except Exception as exc:  # redis raises ConnectionError, ValueError for bad URLs, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url!r}: {reason}") from None
    return JournalStorage(backend)


def artifact_dir_for(url: str) -> Path:
    """Folder where trial checkpoints of the studies in ``url`` are kept.

    ``HPSEARCH_ARTIFACTS`` overrides it; otherwise a SQLite file gets a folder next to it
    and a database server gets ``./hpsearch-artifacts``.
    """
    override = os.environ.get("HPSEARCH_ARTIFACTS")
    if override:
        return Path(override).expanduser().resolve()
    if url.startswith(_JOURNAL_PREFIX):
        return _journal_path(url).parent / "hpsearch-artifacts"
    if url.startswith(_REDIS_PREFIXES):
        return Path("hpsearch-artifacts").resolve()
    parsed = parse_storage_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database).expanduser().resolve()
        return database.parent / "hpsearch-artifacts"
    return Path("hpsearch-artifacts").resolve()
