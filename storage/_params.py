"""A trial's parameters in one storage write instead of one per ``suggest_*`` call.

``optuna.Trial.suggest_*`` stores each value as it is drawn (``set_trial_param``: a
transaction per parameter, a commit with an fsync on SQLite, several round trips on
PostgreSQL). Inside :func:`params_in_one_write` the trial's ``suggest_*`` calls run
Optuna's own code (fixed params of a queued trial, single-valued ranges, relative and
independent sampling, the same sampler calls in the same order) but their writes are held
and stored at the end by :func:`write_trial_params`: on a database, one transaction with
the rows Optuna writes (``trial_params``: value, distribution JSON, in suggestion order).

Optuna's checks are kept. A distribution that the study's other trials contradict
(another kind, another log flag, other choices) raises Optuna's ``ValueError``: at the
``suggest_*`` call when this process has seen the name before (the distribution cache
Optuna's ``set_trial_param`` checks too), else when the block ends, from the database in
the same transaction; either way the parameters suggested before it are stored, as one
write each would have left them. A finished trial refuses the write
(``UpdateFinishedTrialError``). A worker that dies inside the block leaves its trial with
no parameters instead of some (its heartbeat still fails it); one that dies after has
written all of them.

What the sampler stores on the trial while it proposes (``set_trial_system_attr``: TPE's
relative params, shared with other workers for constant liar; CMA-ES's state) is held too
and written in the same transaction, before the parameters, as Optuna writes it before them.

Journal and in-memory storages get Optuna's own calls: a write there is a log record or a
dict entry, and nothing is gained by holding it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any, cast

import optuna
from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from storage._rdb import rdb_backend
from storage._retry import retried_on

logger = logging.getLogger("hpsearch.storage")

# Rows per INSERT: 4 bound values each, far below SQLite's limit (999 before 3.32).
_ROWS_PER_STATEMENT = 200

ParamWrites = Mapping[str, tuple[float, BaseDistribution]]
"""Parameter name -> (value in Optuna's internal representation, its distribution)."""


class _IncompatibleDistribution(Exception):
    """The parameters before ``name`` were written; ``error`` is Optuna's ValueError."""

    def __init__(self, written: list[str], error: ValueError) -> None:
        super().__init__(str(error))
        self.written = written
        self.error = error


def _known_distributions(
    storage: BaseStorage, trial_id: int
) -> tuple[dict[str, BaseDistribution] | None, Any]:
    """The distribution per name that Optuna's cache holds for the trial's study, and its lock.

    ``_CachedStorage.set_trial_param`` checks a name against this cache instead of the
    database once the process has written it; ``None`` on a storage without the cache.
    """
    studies = getattr(storage, "_studies", None)
    numbers = getattr(storage, "_trial_id_to_study_id_and_number", None)
    lock = getattr(storage, "_lock", None)
    if studies is None or numbers is None or lock is None:
        return None, None
    with lock:
        if trial_id not in numbers:
            return None, None
        study_id, _ = numbers[trial_id]
        return studies[study_id].param_distribution, lock


def write_trial_params(
    storage: BaseStorage,
    trial_id: int,
    params: ParamWrites,
    system_attrs: Mapping[str, Any] | None = None,
) -> None:
    """Store ``params`` on the running trial ``trial_id``, in one transaction on a database.

    The same rows as one ``storage.set_trial_param`` per item, in order; a name the trial
    already has is left as it is (as Optuna's write ignores the duplicate), so a retry after
    a commit whose reply was lost writes nothing twice.

    Args:
        storage: The study's storage (``study._storage``).
        trial_id: The trial's storage id (``trial._trial_id``).
        params: Name -> (internal value, distribution), in suggestion order.
        system_attrs: System attributes of the trial to store in the same transaction
            (what the sampler recorded while it proposed), as ``set_trial_system_attr``.

    Raises:
        ValueError: A distribution is incompatible with the one the study's other trials
            have for that name (Optuna's message); the parameters before it are stored.
        optuna.exceptions.UpdateFinishedTrialError: The trial is already finished.
    """
    try:
        _write(storage, trial_id, params, system_attrs or {})
    except _IncompatibleDistribution as exc:
        raise exc.error from None


def _write(
    storage: BaseStorage, trial_id: int, params: ParamWrites, system_attrs: Mapping[str, Any]
) -> None:
    if not params and not system_attrs:
        return
    backend = rdb_backend(storage)
    if backend is None:
        for key, attr in system_attrs.items():
            storage.set_trial_system_attr(trial_id, key, attr)
        for position, (name, (value, distribution)) in enumerate(params.items()):
            try:
                storage.set_trial_param(trial_id, name, value, distribution)
            except ValueError as exc:
                raise _IncompatibleDistribution(list(params)[:position], exc) from None
        return
    cache, lock = _known_distributions(storage, trial_id)
    with lock or contextlib.nullcontext():
        known = dict(cache or {})

    def write() -> tuple[list[str], ValueError | None]:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session) as session:
            for key, attr in system_attrs.items():  # Optuna's upsert of one attribute
                backend._set_trial_attr_without_commit(
                    session, models.TrialSystemAttributeModel, trial_id, key, attr
                )
            return _write_in_session(backend, session, trial_id, params, known)

    # Names already stored are skipped and attributes overwritten with the same value, so
    # repeating the write after a lost connection (committed or not) stores each row once.
    written, error = retried_on(backend, write, "writing trial parameters")
    if cache is not None:
        with lock:  # what _CachedStorage.set_trial_param records after its write
            for name in written:
                cache.setdefault(name, params[name][1])
    if error is not None:
        raise _IncompatibleDistribution(written, error)


def _write_in_session(
    backend: RDBStorage,
    session: Any,
    trial_id: int,
    params: ParamWrites,
    known: Mapping[str, BaseDistribution],
) -> tuple[list[str], ValueError | None]:
    """Check as ``_set_trial_param_without_commit`` does, then insert; the caller commits."""
    import sqlalchemy
    from optuna.storages._rdb import models

    trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
    backend.check_trial_is_updatable(trial_id, cast(TrialState, trial.state))
    table = models.TrialParamModel
    stored = set(
        session.scalars(sqlalchemy.select(table.param_name).where(table.trial_id == trial_id))
    )
    unseen = [name for name in params if name not in known and name not in stored]
    study_id = cast(int, trial.study_id)
    previous = _study_distributions(session, study_id, unseen) if unseen else {}
    rows: list[dict[str, Any]] = []
    written: list[str] = []
    error: ValueError | None = None
    for name, (value, distribution) in params.items():
        if name in stored:
            written.append(name)  # by an earlier attempt of this write
            continue
        old = known[name] if name in known else previous.get(name)
        if old is not None:
            try:
                check_distribution_compatibility(old, distribution)
            except ValueError as exc:
                error = exc  # one write per parameter would have stopped here
                break
        rows.append(
            {
                "trial_id": trial_id,
                "param_name": name,
                "param_value": value,
                "distribution_json": distribution_to_json(distribution),
            }
        )
        written.append(name)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = sqlalchemy.insert(table).values(rows[start : start + _ROWS_PER_STATEMENT])
        session.execute(statement)
    return written, error


def _study_distributions(session: Any, study_id: int, names: list[str]) -> dict[str, Any]:
    """One stored distribution per name among the study's trials, in one query.

    Optuna checks a new distribution against any one row of the name (all of them passed
    the same check); the first row is that one here.
    """
    import sqlalchemy
    from optuna.storages._rdb import models

    params, trials = models.TrialParamModel, models.TrialModel
    first_rows = (
        sqlalchemy.select(sqlalchemy.func.min(params.param_id))
        .join(trials, params.trial_id == trials.trial_id)
        .where(trials.study_id == study_id, params.param_name.in_(names))
        .group_by(params.param_name)
    )
    found = session.execute(
        sqlalchemy.select(params.param_name, params.distribution_json).where(
            params.param_id.in_(first_rows)
        )
    )
    return {name: json_to_distribution(text) for name, text in found}


class _HeldParams:
    """The trial's storage, except that its ``set_trial_param`` and ``set_trial_system_attr``
    calls are held for later."""

    def __init__(self, storage: BaseStorage, trial: optuna.Trial, write_before_sampling: bool):
        self.storage = storage
        self.trial = trial
        self.write_before_sampling = write_before_sampling
        self.pending: dict[str, tuple[float, BaseDistribution]] = {}
        self.pending_system: dict[str, Any] = {}

    def _writes_now(self, trial_id: int) -> bool:
        # Optuna asks the sampler for relative params before it draws any value; until
        # then only fixed and single-valued params are set.
        before_sampling = self.trial._relative_params is None
        return trial_id != self.trial._trial_id or (before_sampling and self.write_before_sampling)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if self._writes_now(trial_id):
            self.storage.set_trial_system_attr(trial_id, key, value)
            return
        self.pending_system[key] = value

    def set_trial_param(
        self, trial_id: int, name: str, value: float, distribution: BaseDistribution
    ) -> None:
        if self._writes_now(trial_id):
            self.storage.set_trial_param(trial_id, name, value, distribution)
            return
        cache, lock = _known_distributions(self.storage, trial_id)
        if cache is not None:
            with lock:
                old = cache.get(name)
            if old is not None:  # Optuna's check against its cache, at the same call
                check_distribution_compatibility(old, distribution)
        self.pending[name] = (value, distribution)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


@contextlib.contextmanager
def params_in_one_write(
    trial: optuna.trial.BaseTrial, *, write_before_sampling: bool = False
) -> Iterator[None]:
    """Within the block, ``trial.suggest_*`` stores its values in one write at the end.

    Only for a running ``optuna.Trial`` of a database storage; anything else (a
    ``FixedTrial``, a journal or in-memory study) runs the block unchanged. The values and
    the sampler calls are Optuna's; the trial answers ``params`` as usual inside the block.
    An error inside the block stores what was suggested before it, then propagates.

    Args:
        trial: The trial whose parameters are suggested in the block.
        write_before_sampling: Write the parameters set before the sampler's first call
            (a queued trial's fixed ones, single-valued ranges) at once, one by one, as
            Optuna does: for a sampler that reads the running trial's stored parameters
            when it proposes (Optuna's GP and QMC samplers).

    Raises:
        ValueError: A distribution incompatible with the study's other trials (see the
            module docs for where).
        optuna.exceptions.UpdateFinishedTrialError: The trial finished meanwhile.
    """
    real = getattr(trial, "storage", None)
    if (
        not isinstance(trial, optuna.Trial)
        or isinstance(real, _HeldParams)  # already inside a block
        or real is None
        or rdb_backend(real) is None
    ):
        yield
        return
    held = _HeldParams(real, trial, write_before_sampling)
    # The sampler writes through the study's storage (the same object as the trial's).
    study = trial.study
    trial.storage = study._storage = cast(BaseStorage, held)
    try:
        yield
    except BaseException:
        trial.storage = study._storage = real
        try:  # what one write per parameter would have stored before the error
            _write(real, trial._trial_id, held.pending, held.pending_system)
        except _IncompatibleDistribution as exc:
            _forget(trial, held.pending, exc.written)
        except Exception as exc:  # the block's error is the one to report
            logger.debug("parameters before an error not written: %s", exc)
            _forget(trial, held.pending, [])
        raise
    finally:
        trial.storage = study._storage = real
    try:
        _write(real, trial._trial_id, held.pending, held.pending_system)
    except _IncompatibleDistribution as exc:
        _forget(trial, held.pending, exc.written)
        raise exc.error from None
    except BaseException:
        _forget(trial, held.pending, [])
        raise


def _forget(trial: optuna.Trial, pending: ParamWrites, written: list[str]) -> None:
    """Drop the held params that were not stored from the trial's view of itself."""
    cached = trial._cached_frozen_trial
    for name in pending:
        if name not in written:
            cached.params.pop(name, None)
            cached.distributions.pop(name, None)
