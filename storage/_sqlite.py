"""SQLite files: where they are, and one clear line when one cannot be used.

SQLite reports a damaged file or an unwritable folder as a generic ``DatabaseError`` deep in
a query, which Optuna then re-raises as "invalid data in the commit, e.g. exceeding max
length"; :func:`sqlite_problem` turns those into the cause a user can act on. Both are
permanent, so they are never retried as if the database had gone away.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import URL, Engine

from storage.errors import StorageError

_DAMAGED = ("malformed", "not a database", "disk image", "file is encrypted")
_READ_ONLY = ("readonly database", "read-only", "unable to open database file")


def sqlite_file(parsed: URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` for another backend or ``:memory:``."""
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def serialize_transactions(engine: Engine) -> None:
    """Make every transaction on ``engine`` take SQLite's write lock when it begins.

    Optuna reads a row and then writes it in one transaction and relies on ``SELECT ... FOR
    UPDATE`` to keep another process from doing the same in between; SQLite has no row
    locks, and Python's driver starts a transaction only at the first write. So two workers
    that pop the same queued trial both read it WAITING and both set it RUNNING: they train
    it twice and the second ``tell`` fails ("Cannot tell a COMPLETE trial"). ``BEGIN
    IMMEDIATE`` makes those read-then-write steps one at a time (SQLAlchemy's documented
    recipe for pysqlite); other processes wait on the busy timeout. WAL is switched on per
    connection here because it cannot be switched inside a transaction.
    """

    def on_connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # no implicit BEGIN
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        # WAL lets readers (the dashboard, `hpsearch status`) run while a worker writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    def on_begin(connection: sqlalchemy.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", on_connect)
    sqlalchemy.event.listen(engine, "begin", on_begin)
    engine.dispose()  # connections opened before the listeners are replaced by new ones


def sqlite_problem(exc: BaseException, path: Path) -> StorageError | None:
    """A one-line :class:`StorageError` when ``exc`` means ``path`` is damaged or read-only.

    Returns ``None`` for anything else (a locked file is retried, other errors propagate).
    """
    import sqlite3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError):
            reason = str(current).strip()
            lowered = reason.lower()
            if any(marker in lowered for marker in _DAMAGED):
                return StorageError(
                    f"the SQLite file {str(path)!r} is damaged ({reason}); restore it from a "
                    "backup, or use another --storage file"
                )
            if any(marker in lowered for marker in _READ_ONLY):
                return _not_writable(path, reason)
        current = current.__cause__ or current.__context__
    return None


def _not_writable(path: Path, reason: str) -> StorageError:
    folder = path.parent
    if not os.access(folder, os.W_OK):
        return StorageError(
            f"cannot write the SQLite file {str(path)!r}: its folder {str(folder)!r} is "
            "read-only (SQLite also writes -wal and -shm files next to it); use a writable "
            "folder in --storage"
        )
    if path.exists() and not os.access(path, os.W_OK):
        return StorageError(
            f"cannot write the SQLite file {str(path)!r}: the file is read-only; make it "
            "writable or copy it to a writable folder"
        )
    return StorageError(f"cannot open the SQLite file {str(path)!r}: {reason}")


def check_sqlite_folder(path: Path, shown_url: str) -> None:
    """Fail early, with the reason, when ``path`` cannot be created or written.

    Raises:
        StorageError: The folder is missing or read-only.
    """
    folder = path.parent
    if not folder.is_dir():
        raise StorageError(
            f"storage URL {shown_url!r} points into folder {str(folder)!r}, which does not exist"
        )
    if not os.access(folder, os.W_OK):
        raise _not_writable(path, "read-only")
