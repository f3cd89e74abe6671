"""Heartbeat rows of trials that go back to the queue, and what a stale trial records.

Optuna keeps one heartbeat row per trial and finds a RUNNING trial stale when that row is
older than the grace period. A trial the worker loop gives back unrun (WAITING) keeps its
row, and the row ages in the queue: when another worker pops the trial again it is RUNNING
with a heartbeat minutes old, and any worker's stale check in the moment before the new
owner's first heartbeat fails it and re-queues a copy, so the same place in the budget is
trained twice. A trial with no row is never stale, so the row goes with the trial.

A trial found stale is failed and queued again by Optuna's
``RetryHeartbeatStaleTrialCallback``, which records neither why nor, on the copy, where it
came from. :class:`RequeueStaleTrial` adds both, as the worker does for an interrupted
trial: ``fail_reason`` (starting with :data:`STALE_REASON_PREFIX`) on the failed trial and
``requeued_from`` on its copy.
"""

from __future__ import annotations

import copy

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial

from storage._attrs import write_trial_user_attrs
from storage._rdb import rdb_backend, table
from storage._retry import call_with_retry

STALE_REASON_PREFIX = "stale:"
"""How the ``fail_reason`` of a trial failed for a missing heartbeat begins."""

# User attributes about the failed run, not about what the copy is to run.
_NOT_CARRIED = ("fail_reason", "requeued_from")


class RequeueStaleTrial(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Queue a stale trial's parameters again, saying why it failed and what the copy is.

    Args:
        max_retry: How many times one configuration is queued again (Optuna's meaning).
        grace_period: The storage's grace period in seconds, for the reason's text.
    """

    def __init__(self, max_retry: int | None, grace_period: int) -> None:
        super().__init__(max_retry=max_retry)
        self.reason = (
            f"{STALE_REASON_PREFIX} no heartbeat for more than {grace_period} s (its worker "
            "was killed, or lost the database)"
        )

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        write_trial_user_attrs(
            study._storage, trial._trial_id, {"fail_reason": self.reason}, finished_ok=True
        )
        carried = copy.copy(trial)
        carried.user_attrs = {
            **{k: v for k, v in trial.user_attrs.items() if k not in _NOT_CARRIED},
            "requeued_from": trial.number,
        }
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
