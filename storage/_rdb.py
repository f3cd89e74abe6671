"""The SQL database behind a study's storage, for the few queries Optuna does not offer."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import RDBStorage


def rdb_backend(storage: optuna.storages.BaseStorage) -> RDBStorage | None:
    """The :class:`RDBStorage` under ``storage``, or ``None`` when it is not a database.

    ``optuna.create_study`` / ``load_study`` wrap a database storage in a private cache
    (``study._storage`` is a ``_CachedStorage``); the SQL goes to the database it wraps.
    """
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, RDBStorage) else None


def table(name: str) -> Any:
    """One of Optuna's tables (``"trials"``, ``"trial_heartbeats"``), the schema it reads."""
    from optuna.storages._rdb import models

    return models.BaseModel.metadata.tables[name]
