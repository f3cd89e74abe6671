"""Turn a storage URL into an Optuna storage."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from storage import DEFAULT_STORAGE_URL
from storage._heartbeats import RequeueStaleTrial
from storage._retry import ResilientRDBStorage
from storage._secrets import mask_in_logs, redact_url
from storage._sqlite import (
    check_sqlite_folder,
    serialize_transactions,
    sqlite_file,
    sqlite_problem,
)
from storage.errors import StorageError, first_line

_ACCEPTED = (
    "sqlite:///FILE.db, postgresql+psycopg://USER@HOST/DB, mysql+pymysql://USER@HOST/DB, "
    "journal:///FILE.log, redis://HOST:6379/0"
)
_BACKENDS = ("sqlite", "postgresql", "mysql")
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
    if backend not in _BACKENDS:
        raise StorageError(
            f"storage URL {url!r} uses unsupported database {backend!r}; accepted: {_ACCEPTED}"
        )
    return parsed


def _engine_kwargs(parsed: URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        # The busy timeout lets a few local processes share one file: a writer waits for
        # the lock instead of failing at once with "database is locked".
        return {"connect_args": {"timeout": 60}}
    if parsed.get_backend_name() == "mysql":
        # MySQL has no per-session statement timeout for writes; the driver's read timeout
        # bounds a call stuck on a dying server instead. The server closes idle connections
        # (wait_timeout), so they are recycled before that.
        timeouts = {"connect_timeout": 10}
        if parsed.get_driver_name() == "pymysql":
            timeouts.update(read_timeout=60, write_timeout=60)
        return {
            "pool_pre_ping": True,
            "pool_size": 2,
            "max_overflow": 2,
            "pool_recycle": 3600,
            "connect_args": timeouts,
        }
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
    carried_attrs: Iterable[str] = (),
) -> optuna.storages.BaseStorage:
    """Open the Optuna storage behind ``url``.

    Args:
        url: ``sqlite:///file.db`` (default) or ``postgresql+psycopg://user@host/db``.
        heartbeat_interval: Seconds between a running trial's heartbeats; ``None`` turns
            heartbeats off. A trial silent for ``grace_period`` is failed as stale.
        grace_period: Seconds without a heartbeat before a trial counts as dead
            (default: twice the interval).
        retry_stale_trials: How many times a stale trial's parameters are queued again
            (Optuna's ``RetryHeartbeatStaleTrialCallback``, with the reason and provenance
            :class:`storage._heartbeats.RequeueStaleTrial` adds); ``0`` never re-queues.
        carried_attrs: The user attributes a stale trial's copy keeps (what the trial is to
            run: its seed, its role), see :func:`storage._heartbeats.requeued_attrs`.

    Returns:
        An Optuna storage that ``optuna.load_study`` and optuna-dashboard also read.

    Raises:
        StorageError: The URL is bad or the database cannot be reached.
    """
    if url.startswith(_JOURNAL_PREFIX) or url.startswith(_REDIS_PREFIXES):
        mask_in_logs(url)
        if heartbeat_interval is not None:
            logger.warning(
                "heartbeats need a database storage (sqlite, postgresql or mysql); with %s a "
                "crashed worker's trial stays RUNNING",
                url.split("://", 1)[0],
            )
        return _open_journal(url)
    parsed = parse_storage_url(url)
    mask_in_logs(url)
    shown = parsed.render_as_string(hide_password=True)  # never print a password
    database_file = sqlite_file(parsed)
    if database_file is not None:
        check_sqlite_folder(database_file, shown)
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
                    heartbeat["heartbeat_stale_trial_callback"] = RequeueStaleTrial(
                        retry_stale_trials,
                        2 * heartbeat_interval if grace_period is None else grace_period,
                        carried_attrs,
                    )
            storage = ResilientRDBStorage(url, engine_kwargs=_engine_kwargs(parsed), **heartbeat)
    except NoSuchModuleError:
        raise StorageError(
            f"storage URL {shown!r} names a driver that is not installed; accepted: {_ACCEPTED}"
        ) from None
    except (SQLAlchemyError, ImportError, optuna.exceptions.StorageInternalError) as exc:
        if database_file is not None and (problem := sqlite_problem(exc, database_file)):
            raise problem from None
        if isinstance(exc, ImportError) and parsed.get_backend_name() == "mysql":
            raise StorageError(
                f"storage URL {shown!r} needs a MySQL driver: use mysql+pymysql://USER@HOST/DB "
                'with pip install "hpsearch[mysql]"'
            ) from None
        reason = first_line(getattr(exc, "orig", None) or exc)
        raise StorageError(f"cannot open storage {shown!r}: {reason}") from None
    if database_file is not None:
        storage.permanent_error = lambda exc: sqlite_problem(exc, database_file)
        serialize_transactions(storage.engine)
        try:
            with storage.engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT 1"))  # WAL is set on connecting
        except SQLAlchemyError as exc:
            raise sqlite_problem(exc, database_file) or StorageError(
                f"cannot open storage {shown!r}: {exc}"
            ) from None
    return storage


class StorageOpener:
    """Opens each storage URL at most once, with one command's heartbeat settings.

    A command reads a study's stored config before it runs trials, and both steps go through
    one opener: they share one engine (one connection pool, one schema check), and a missing
    SQLite file is still created only by the step that creates a study.

    Args:
        heartbeat_interval: Seconds between a running trial's heartbeats; ``None`` turns
            heartbeats off.
        grace_period: Seconds without a heartbeat before a trial counts as dead (default:
            three intervals, so one late beat is not a death).
        carried_attrs: The user attributes a stale trial's copy keeps (see
            :func:`open_storage`).
    """

    def __init__(
        self,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        carried_attrs: Iterable[str] = (),
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.carried_attrs = tuple(carried_attrs)
        if grace_period is None and heartbeat_interval is not None:
            grace_period = 3 * heartbeat_interval
        self.grace_period = grace_period
        self._opened: dict[str, optuna.storages.BaseStorage] = {}

    def __call__(self, url: str) -> optuna.storages.BaseStorage:
        """The storage behind ``url``, opened on the first call (see :func:`open_storage`)."""
        if url not in self._opened:
            self._opened[url] = open_storage(
                url,
                heartbeat_interval=self.heartbeat_interval,
                grace_period=self.grace_period,
                carried_attrs=self.carried_attrs,
            )
        return self._opened[url]

    def exists(self, url: str) -> bool:
        """Whether ``url`` may hold studies already (see :func:`storage_exists`)."""
        return url in self._opened or storage_exists(url)


def storage_exists(url: str) -> bool:
    """Whether ``url`` may hold studies already: ``False`` only for a missing local file.

    Reading commands (``status``, ``best``, ...) check it first, so a mistyped path or the
    wrong folder does not leave a new empty database file behind.
    """
    if url.startswith(_JOURNAL_PREFIX):
        return _journal_path(url).is_file()
    if url.startswith(_REDIS_PREFIXES):
        return True
    database_file = sqlite_file(parse_storage_url(url))
    return database_file is None or database_file.is_file()


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages, logs and the study."""
    return redact_url(url)


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
            f"storage URL {redact_url(url)!r} needs the redis package: pip install redis"
        ) from None
    except Exception as exc:  # redis raises ConnectionError, ValueError for bad URLs, ...
        reason = first_line(exc)
        raise StorageError(f"cannot open storage {redact_url(url)!r}: {reason}") from None
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
    database_file = sqlite_file(parse_storage_url(url))
    if database_file is not None:
        return database_file.parent / "hpsearch-artifacts"
    return Path("hpsearch-artifacts").resolve()
