"""Ride out database restarts: bounded, jittered retries on lost connections.

Every call a worker makes to the database goes through :class:`ResilientRDBStorage`. When
the server goes away (restart, failover, network blip) the call is retried with
exponential backoff and random jitter, one WARNING line per retry, until
``HPSEARCH_DB_RETRY_SECONDS`` (default 120 s) have passed; then a :class:`StorageError`
says the database is unreachable and the worker exits non-zero.

Why retrying is safe here:
- Reads are idempotent.
- Each Optuna write is one transaction. A connection lost before ``COMMIT`` leaves nothing
  behind, so the retry is the only write. The one ambiguous case is a connection lost
  after the server committed but before the client heard: finishing a trial then fails
  with "already finished" on retry, which is treated as success when the stored state is
  the one asked for. Creating a trial in that window would leave one extra RUNNING trial
  with no heartbeat; the window is a single round trip and has not been seen in tests.
- Heartbeats are retried inside the heartbeat thread, so a running trial is not declared
  dead just because the database was down for a few seconds.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from storage.errors import StorageError, first_line

logger = logging.getLogger("hpsearch.storage")

T = TypeVar("T")

_FIRST_DELAY = 0.5
_MAX_DELAY = 10.0


def retry_budget_seconds() -> float:
    """How long a worker keeps retrying a lost database (``HPSEARCH_DB_RETRY_SECONDS``)."""
    raw = os.environ.get("HPSEARCH_DB_RETRY_SECONDS", "120")
    try:
        value = float(raw)
    except ValueError:
        raise StorageError(
            f"HPSEARCH_DB_RETRY_SECONDS={raw!r} is not a number of seconds"
        ) from None
    return max(value, 0.0)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost or refused database connection."""
    import sqlalchemy.exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageError):
            return False  # already retried to the limit by an inner call
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.OperationalError):
            return True
        if type(current).__name__ in ("OperationalError", "InterfaceError") and (
            type(current).__module__.startswith(("psycopg", "sqlite3", "pymysql", "MySQLdb"))
        ):
            return True
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return False


def _first_line(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return first_line(root)


def call_with_retry(
    fn: Callable[[], T],
    what: str,
    before_retry: Callable[[], None] | None = None,
    permanent: Callable[[BaseException], StorageError | None] | None = None,
) -> T:
    """Call ``fn``, retrying lost connections with jittered backoff within the budget.

    Args:
        fn: The database call.
        what: What the call does, for the log line and the final error.
        before_retry: Run before each retry (e.g. to drop a broken session).
        permanent: Turns an error that no retry can fix (a damaged or read-only SQLite
            file) into the :class:`StorageError` to raise at once; ``None`` for others.
    """
    budget = retry_budget_seconds()
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if permanent is not None and (problem := permanent(exc)) is not None:
                raise problem from None
            if not is_connection_error(exc):
                raise
            attempt += 1
            waited = time.monotonic() - started
            # A single failing call can itself outlast the budget (a connect timeout under
            # load); still log it and try once more, so every outage leaves a trace.
            if waited >= budget and attempt > 1:
                raise StorageError(
                    f"database unreachable for {waited:.0f} s while {what}: {_first_line(exc)} "
                    "(raise HPSEARCH_DB_RETRY_SECONDS to wait longer)"
                ) from None
            # Full jitter spreads the reconnects of many workers after a restart.
            delay = min(_MAX_DELAY, _FIRST_DELAY * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            delay = min(delay, max(budget - waited, 0.0) + 0.01)
            logger.warning(
                "database error while %s (%s); retry %d in %.1f s",
                what,
                _first_line(exc),
                attempt,
                delay,
            )
            time.sleep(delay)
            if before_retry is not None:
                before_retry()


def _retrying(name: str) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    @functools.wraps(method)
    def wrapper(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return call_with_retry(
            lambda: method(self, *args, **kwargs),
            name.strip("_"),
            self._drop_session,
            self.permanent_error,
        )

    return wrapper


# Public methods, and the private ones Optuna's caching layer calls directly.
_RETRIED = (
    "_create_new_trial",
    "_set_trial_param",
    "_get_best_trial_id",
    "_get_trials",
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    "_get_stale_trial_ids",
)


class ResilientRDBStorage(RDBStorage):
    """Optuna's RDB storage whose calls survive a database restart (see module docs)."""

    # Set by open_storage for a SQLite file: its damaged/read-only errors are not retried.
    permanent_error: Callable[[BaseException], StorageError | None] | None = None

    def _drop_session(self) -> None:
        # A session whose connection died mid-transaction refuses further use ("Can't
        # reconnect until invalid transaction is rolled back"); start the retry afresh.
        try:
            self.scoped_session.remove()
        except Exception as exc:  # the dead connection may fail to close; that is fine
            logger.debug("discarding a broken session: %s", exc)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        first = True

        def finish() -> bool:
            nonlocal first
            try:
                return RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except optuna.exceptions.UpdateFinishedTrialError:
                # A retry after a commit whose reply was lost: done if the state stuck.
                if not first and RDBStorage.get_trial(self, trial_id).state == state:
                    return True
                raise
            finally:
                first = False

        return call_with_retry(
            finish, "finishing a trial", self._drop_session, self.permanent_error
        )

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            call_with_retry(
                lambda: RDBStorage.record_heartbeat(self, trial_id),
                "recording a heartbeat",
                self._drop_session,
            )
        except StorageError as exc:
            # The heartbeat thread must not die: the trial's own next call reports the outage.
            logger.error("%s", exc)


for _name in _RETRIED:
    setattr(ResilientRDBStorage, _name, _retrying(_name))


def retried_on(backend: RDBStorage, fn: Callable[[], T], what: str) -> T:
    """``fn()`` (one database write of hpsearch's own), retried as
    :class:`ResilientRDBStorage` retries its calls when ``backend`` is one; called once on a
    plain ``RDBStorage``. ``fn`` must be safe to repeat after a lost connection."""
    if isinstance(backend, ResilientRDBStorage):
        return call_with_retry(fn, what, backend._drop_session, backend.permanent_error)
    return fn()
