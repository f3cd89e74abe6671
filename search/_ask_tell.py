"""One trial through Optuna's ask-and-tell interface, as ``study.optimize`` would run it.

The worker loop asks for trials itself (instead of ``study.optimize(n_trials=1)``) so it can
look at a trial between asking and training: give it back when it is beyond the study's
budget, or fail it unrun when it repeats a configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from objectives.errors import TrialInterrupted
from storage import forget_heartbeat, set_trial_user_attrs

logger = logging.getLogger("hpsearch.worker")


def run_one_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    objective: Callable[[optuna.Trial], Any],
    catch: Sequence[type[Exception]] = (),
) -> FrozenTrial:
    """Run ``objective`` on an asked trial and tell the study how it ended.

    ``optuna.TrialPruned`` makes it PRUNED, an exception FAIL; exceptions not in ``catch``
    (and ``KeyboardInterrupt``) are raised again after the trial is stored as failed.

    Returns:
        The finished trial as stored.
    """
    state: TrialState | None = None
    values: Any = None
    error: BaseException | None = None
    try:
        values = objective(trial)
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except (Exception, KeyboardInterrupt) as exc:
        state, error = TrialState.FAIL, exc
    stored = study._storage.get_trial(trial._trial_id)
    if stored.state.is_finished():
        # Another worker found this trial's heartbeat too old (a stalled host, a database
        # outage) and failed and re-queued it; its copy will run, so this worker goes on.
        logger.warning(
            "trial %d was failed by another worker (no heartbeat within the grace period); "
            "its re-queued copy runs instead",
            trial.number,
        )
        return stored
    finished = study.tell(trial, None if state is not None else values, state=state)
    if finished.state == TrialState.COMPLETE:
        logger.info(
            "trial %d finished with value %s and parameters %s",
            finished.number,
            finished.values[0] if len(finished.values) == 1 else finished.values,
            finished.params,
        )
    elif finished.state == TrialState.PRUNED:
        logger.info("trial %d pruned at step %s", finished.number, finished.last_step)
    elif isinstance(error, TrialInterrupted) and isinstance(error, tuple(catch)):
        # A graceful stop: the entry point already said so in one line; the trial is
        # re-queued by the caller, so there is nothing to warn about.
        logger.info("trial %d interrupted; its parameters go back in the queue", finished.number)
    elif error is not None:
        caught = isinstance(error, tuple(catch))
        logger.warning(
            "trial %d failed with parameters %s: %r",
            finished.number,
            finished.params,
            error,
            exc_info=None if caught else error,
        )
        if not caught:
            raise error
    return finished


def give_back(study: optuna.Study, trial: optuna.Trial) -> None:
    """Return an asked, untouched queued trial to the queue (WAITING), unrun.

    It keeps its fixed parameters and runs when the budget allows again (a failed trial
    frees a place, or the budget is raised). Its heartbeat row goes
    (:func:`storage.forget_heartbeat`): the caller must have stopped beating for it first.
    """
    forget_heartbeat(study._storage, trial._trial_id)
    study._storage.set_trial_state_values(trial._trial_id, state=TrialState.WAITING)


def fail_unrun(study: optuna.Study, trial: optuna.Trial, reason: str, **attrs: Any) -> None:
    """Store an asked trial as FAIL with ``fail_reason`` and ``attrs``, without training."""
    set_trial_user_attrs(trial, {"fail_reason": reason, **attrs})
    study.tell(trial, state=TrialState.FAIL)
