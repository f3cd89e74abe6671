"""Cheap questions about a study's trials: how many per state, how many started before one.

A worker asks them before and after every trial. Loading every trial of the study for that
(``study.get_trials``: params, attributes, intermediate values) costs O(trials) each time,
O(trials^2) over a study; on a database these are one ``COUNT`` query on the ``trials``
table instead. Journal storages keep their trials in memory, so counting them there is
already cheap.
"""

from __future__ import annotations

from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from storage._rdb import rdb_backend, table
from storage._retry import call_with_retry

_ACTIVE = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


def count_trial_states(storage: optuna.storages.BaseStorage, study_id: int) -> dict[str, int]:
    """Number of trials per state name (every :class:`~optuna.trial.TrialState`, 0 if none).

    Args:
        storage: The study's storage.
        study_id: The study's storage id (``study._study_id``).
    """
    counts = {state.name: 0 for state in TrialState}
    database = rdb_backend(storage)
    if database is not None:
        trials = table("trials")
        query = (
            sqlalchemy.select(trials.c.state, sqlalchemy.func.count())
            .where(trials.c.study_id == study_id)
            .group_by(trials.c.state)
        )

        def count() -> list[Any]:
            with database.engine.connect() as connection:
                return list(connection.execute(query))

        for state, n in call_with_retry(count, "counting trials"):
            counts[state.name if isinstance(state, TrialState) else str(state)] += int(n)
        return counts
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        counts[trial.state.name] += 1
    return counts


def count_trials_ahead(
    storage: optuna.storages.BaseStorage, study_id: int, trial: FrozenTrial
) -> int:
    """How many finished or running trials of the study come before ``trial``.

    Finished (COMPLETE, PRUNED) trials always count; running ones count when they started
    earlier (ties broken by trial id). Every worker compares the same stored start times,
    so when several workers start trials at the same moment they agree on who is first:
    a trial with ``budget`` trials ahead of it is beyond the budget.

    Args:
        storage: The study's storage.
        study_id: The study's storage id (``study._study_id``).
        trial: A RUNNING trial, as just asked for.
    """
    database = rdb_backend(storage)
    if database is not None:
        trials = table("trials")
        started = database.get_trial(trial._trial_id).datetime_start
        earlier = sqlalchemy.or_(
            trials.c.datetime_start < started,
            sqlalchemy.and_(
                trials.c.datetime_start == started, trials.c.trial_id < trial._trial_id
            ),
        )
        query = (
            sqlalchemy.select(sqlalchemy.func.count())
            .select_from(trials)
            .where(trials.c.study_id == study_id, trials.c.trial_id != trial._trial_id)
            .where(
                sqlalchemy.or_(
                    trials.c.state.in_([TrialState.COMPLETE, TrialState.PRUNED]),
                    sqlalchemy.and_(trials.c.state == TrialState.RUNNING, earlier),
                )
            )
        )

        def count() -> int:
            with database.engine.connect() as connection:
                return int(connection.execute(query).scalar_one())

        return call_with_retry(count, "counting trials ahead")
    me = storage.get_trial(trial._trial_id)
    assert me.datetime_start is not None
    ahead = 0
    for other in storage.get_all_trials(study_id, deepcopy=False, states=_ACTIVE):
        if other._trial_id == me._trial_id:
            continue
        started_earlier = other.datetime_start is not None and (
            (other.datetime_start, other._trial_id) < (me.datetime_start, me._trial_id)
        )
        if other.state != TrialState.RUNNING or started_earlier:
            ahead += 1
    return ahead
