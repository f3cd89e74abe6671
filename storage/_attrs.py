"""Several user attributes of a running trial in one storage write.

``optuna.Trial.set_user_attr`` is one transaction per key: on SQLite each is a commit with
an fsync (~15 ms), so a trial that records ten attributes at its end pays ten. Optuna 5 has
no batch call, so on a database :func:`set_trial_user_attrs` reads the trial's state once
and writes every key in one multi-row upsert (the statement Optuna uses for one key), in
one transaction; other storages (journal, in-memory) get the plain loop, where a write is
already cheap (a log record or a dict entry per key).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Mapping
from importlib import import_module
from typing import Any, cast

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from storage._rdb import rdb_backend
from storage._retry import retried_on

# Parameters per statement stay far below SQLite's limit (32,766; 999 before 3.32).
_ROWS_PER_STATEMENT = 200


def _backend(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    return rdb_backend(storage) or storage


def write_trial_user_attrs(
    storage: optuna.storages.BaseStorage,
    trial_id: int,
    attrs: Mapping[str, Any],
    *,
    finished_ok: bool = False,
) -> None:
    """Store ``attrs`` as user attributes of the running trial ``trial_id``.

    Same stored values as one ``set_trial_user_attr`` per key, in one transaction on a
    database (all keys or none); a key already set is overwritten.

    Args:
        storage: The study's storage (``study._storage``).
        trial_id: The trial's storage id (``trial._trial_id``).
        attrs: Attribute name -> JSON-serializable value.
        finished_ok: Write to a finished trial too (why a stale trial was failed); only a
            database storage can, elsewhere nothing is written.

    Raises:
        optuna.exceptions.UpdateFinishedTrialError: The trial is already finished.
    """
    if not attrs:
        return
    backend = _backend(storage)
    if not isinstance(backend, RDBStorage):
        if finished_ok and storage.get_trial(trial_id).state.is_finished():
            return
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    def write() -> None:
        with _create_scoped_session(backend.scoped_session, True) as session:
            try:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
                # The ORM column reads as the TrialState enum.
                if not finished_ok:
                    backend.check_trial_is_updatable(trial_id, cast(TrialState, trial.state))
                _upsert(backend, session, trial_id, attrs)
            except Exception:
                # A finished trial (or a bad value) leaves no open transaction behind; a
                # rollback that fails too must not hide the first error.
                with contextlib.suppress(Exception):
                    session.rollback()
                raise

    # An upsert of fixed values: repeating it after a lost connection changes nothing.
    retried_on(backend, write, "writing trial attributes")


def _upsert(backend: RDBStorage, session: Any, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """One ``INSERT ... ON CONFLICT UPDATE`` of every key, as Optuna writes one key."""
    from optuna.storages._rdb import models

    table = models.TrialUserAttributeModel
    rows = [
        {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
        for key, value in attrs.items()
    ]
    dialect = backend.engine.name
    if dialect == "postgresql" or (dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24)):
        module = import_module(f"sqlalchemy.dialects.{dialect}")
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            statement = module.insert(table).values(rows[start : start + _ROWS_PER_STATEMENT])
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.trial_id, table.key],
                    set_={"value_json": statement.excluded.value_json},
                )
            )
    elif dialect == "mysql":
        from sqlalchemy.dialects import mysql

        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            statement = mysql.insert(table).values(rows[start : start + _ROWS_PER_STATEMENT])
            session.execute(
                statement.on_duplicate_key_update(value_json=statement.inserted.value_json)
            )
    else:  # any other database: Optuna's own per-key write, still in this one transaction
        for key, value in attrs.items():
            backend._set_trial_attr_without_commit(session, table, trial_id, key, value)


def set_trial_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr(key, value)`` for every item of ``attrs``, in one write.

    Args:
        trial: A running trial (from ``study.ask`` or inside ``study.optimize``).
        attrs: Attribute name -> JSON-serializable value.
    """
    write_trial_user_attrs(trial.storage, trial._trial_id, attrs)
    # What set_user_attr also does: the trial object answers user_attrs without a read.
    trial._cached_frozen_trial.user_attrs.update(attrs)
