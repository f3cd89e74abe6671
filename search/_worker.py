"""The worker loop: run trials of a shared study until the study's budget is reached.

The budget counts COMPLETE + PRUNED trials of the whole study, not of this process, so any
number of workers on any number of hosts can share it. A worker starts a new trial only
while ``finished + running < budget``; when the remaining trials are all running elsewhere
it waits for them, so a crashed trial (failed by the heartbeat and re-queued) is still
picked up by someone. Several workers that look at the same moment can overshoot the
budget by at most one trial each.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger("hpsearch.worker")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
INTERRUPTED_REASON = "interrupted"


class StopFlag:
    """Set by SIGTERM/SIGINT (or a caller); the objective checks it at epoch boundaries."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        """Ask the worker to stop after the current epoch."""
        self.signal_name = reason
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    """Turn the first SIGTERM/SIGINT into ``flag.set()``; a second SIGINT interrupts at once.

    Only installs handlers in the main thread (signals cannot be caught elsewhere).
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: Any) -> None:
        if flag() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.set(signal.Signals(signum).name)
        logger.warning(
            "%s received: finishing at the next epoch boundary", signal.Signals(signum).name
        )

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class WorkerResult:
    """What one worker did."""

    trials_run: int = 0
    stopped_by: str = "budget"
    seconds: float = 0.0
    requeued: list[int] = field(default_factory=list)


def count_states(study: optuna.Study) -> dict[str, int]:
    """Number of trials per state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ...)."""
    counts = {state.name: 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] += 1
    return counts


def _requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Put an interrupted trial's parameters back in the queue, so no work is lost."""
    study.enqueue_trial(
        trial.params, user_attrs={"requeued_from": trial.number}, skip_if_exists=False
    )


class TrialOutOfMemory(RuntimeError):
    """A trial ran out of accelerator memory; it is failed and the worker goes on."""


def guard_out_of_memory(
    objective: Callable[[optuna.Trial], Any],
) -> Callable[[optuna.Trial], Any]:
    """Wrap ``objective`` so CUDA out-of-memory fails only that trial, with the reason.

    The memory the trial held is released before the next trial starts, so a too-large
    configuration does not take the worker (and the other trials sharing its GPU) down.
    """
    import gc

    import torch

    def guarded(trial: optuna.Trial) -> Any:
        try:
            return objective(trial)
        except torch.cuda.OutOfMemoryError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "out of memory"
            trial.set_user_attr("fail_reason", f"CUDA out of memory: {reason}")
        # Outside the except block, so the traceback (and the tensors it pins) is gone.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrialOutOfMemory(trial.user_attrs.get("fail_reason", "CUDA out of memory"))

    return guarded


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], Any],
    *,
    n_trials: int | None,
    timeout: float | None = None,
    stop: StopFlag | None = None,
    catch: Sequence[type[Exception]] = (),
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    poll_seconds: float = 1.0,
) -> WorkerResult:
    """Run trials until the study has ``n_trials`` finished ones, time runs out, or ``stop``.

    Args:
        study: The shared study.
        objective: The Optuna objective; it should check ``stop`` at epoch boundaries and
            raise :class:`objectives.TrialInterrupted` (listed in ``catch``).
        n_trials: Budget of COMPLETE + PRUNED trials for the whole study (``None``: no limit).
        timeout: Seconds after which this worker starts no new trial.
        stop: Stop flag; a trial failed with an interruption is re-queued.
        catch: Exceptions that fail a trial without stopping the worker.
        callbacks: Called after every trial this worker finishes.
        poll_seconds: How often to look again while the last trials run elsewhere.

    Returns:
        A :class:`WorkerResult`.
    """
    stop = stop or StopFlag()
    result = WorkerResult()
    started = time.monotonic()

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        result.trials_run += 1
        if trial.state == TrialState.FAIL and trial.user_attrs.get("fail_reason") == (
            INTERRUPTED_REASON
        ):
            _requeue(study, trial)
            result.requeued.append(trial.number)
        for callback in callbacks:
            callback(study, trial)

    while True:
        if stop():
            result.stopped_by = stop.signal_name or "stop"
            break
        if timeout is not None and time.monotonic() - started >= timeout:
            result.stopped_by = "timeout"
            break
        if n_trials is not None:
            counts = count_states(study)
            finished = counts["COMPLETE"] + counts["PRUNED"]
            if finished >= n_trials:
                result.stopped_by = "budget"
                break
            if counts["WAITING"] == 0 and finished + counts["RUNNING"] >= n_trials:
                # The rest of the budget is running elsewhere; wait in case one of them dies
                # and is re-queued by the heartbeat's stale-trial callback.
                with warnings.catch_warnings():  # experimental in Optuna 5, used on purpose
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats
                time.sleep(poll_seconds)
                continue
        study.optimize(objective, n_trials=1, catch=tuple(catch), callbacks=[after_trial])
    result.seconds = time.monotonic() - started
    return result
