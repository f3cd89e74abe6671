"""Heartbeat rows of trials that go back to the queue, and what a stale trial records.

Optuna keeps one heartbeat row per trial and finds a RUNNING trial stale when that row is
older than the grace period. A trial the worker loop gives back unrun (WAITING) keeps its
row, and the row ages in the queue: when another worker pops the trial again it is RUNNING
with a heartbeat minutes old, and any worker's stale check in the moment before the new
owner's first heartbeat fails it and re-queues a copy, so the same place in the budget is
trained twice. A trial with no row is never stale, so the row goes with the trial.

A trial found stale is failed and queued again by Optuna's
``RetryHeartbeatStaleTrialCallback``, which records neither why nor, on the copy, where it
came from, and copies every user attribute, those the dead run wrote too.
:class:`RequeueStaleTrial` records ``fail_reason`` (starting with
:data:`STALE_REASON_PREFIX`) on the failed trial and gives the copy the attributes
:func:`requeued_attrs` names, the one rule the worker uses for an interrupted trial too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from storage._attrs import write_trial_user_attrs
from storage._rdb import rdb_backend, table
from storage._retry import call_with_retry

STALE_REASON_PREFIX = "stale:"
"""How the ``fail_reason`` of a trial failed for a missing heartbeat begins."""

REQUEUED_FROM_ATTR = "requeued_from"
"""User attribute of a re-queued copy: the number of the trial it repeats."""


def requeued_attrs(trial: FrozenTrial, carried: Iterable[str]) -> dict[str, Any]:
    """The user attributes of ``trial``'s re-queued copy.

    Args:
        trial: The failed (interrupted or stale) trial.
        carried: Names of the attributes that say what the trial is to run (its seed, its
            role); what its run wrote (times, checkpoints, reasons) stays with it.

    Returns:
        Those of ``carried`` that ``trial`` has, and :data:`REQUEUED_FROM_ATTR`.
    """
    kept = {name: trial.user_attrs[name] for name in carried if name in trial.user_attrs}
    return {**kept, REQUEUED_FROM_ATTR: trial.number}


class RequeueStaleTrial(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Queue a stale trial's parameters again, saying why it failed and what the copy is.

    Args:
        max_retry: How many times one configuration is queued again (Optuna's meaning).
        grace_period: The storage's grace period in seconds, for the reason's text.
        carried: The user attributes the copy keeps (see :func:`requeued_attrs`).
    """

    def __init__(
        self, max_retry: int | None, grace_period: int, carried: Iterable[str] = ()
    ) -> None:
        super().__init__(max_retry=max_retry)
        self.carried = tuple(carried)
        self.reason = (
            f"{STALE_REASON_PREFIX} no heartbeat for more than {grace_period} s (its worker "
            "was killed, or lost the database)"
        )

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        write_trial_user_attrs(
            study._storage, trial._trial_id, {"fail_reason": self.reason}, finished_ok=True
        )
        carried = copy.copy(trial)
        carried.user_attrs = requeued_attrs(trial, self.carried)
        super().__call__(study, carried)


def forget_heartbeat(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """Delete ``trial_id``'s heartbeat row (a no-op on storages without heartbeats).

    Call it before the trial leaves RUNNING for the queue, and after its worker stopped
    beating for it.
    """
    database = rdb_backend(storage)
    if database is None or database.heartbeat_interval is None:
        return
    heartbeats = table("trial_heartbeats")
    statement = sqlalchemy.delete(heartbeats).where(heartbeats.c.trial_id == trial_id)

    def delete() -> None:
        with database.engine.begin() as connection:
            connection.execute(statement)

    call_with_retry(delete, "forgetting a queued trial's heartbeat")
