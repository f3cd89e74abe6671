"""The worker loop: run trials of a shared study until the study's budget is reached.

The budget counts COMPLETE + PRUNED trials of the whole study, not of this process, so any
number of workers on any number of hosts can share it. A worker starts a new trial only
while ``finished + running < budget``; when the remaining trials are all running elsewhere
it waits for them, so a crashed trial (failed by the heartbeat and re-queued) is still
picked up by someone. Several workers that look at the same moment may each draw a trial;
the one that finds ``budget`` trials started before it does not run its trial, so the
study ends with exactly its budget of finished trials: a queued trial goes back to the
queue, a fresh one is failed unrun with ``fail_reason`` :data:`BEYOND_BUDGET_REASON`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import storage
from objectives.errors import INTERRUPTED_REASON, SEED_ATTR
from search._ask_tell import fail_unrun, give_back, run_one_trial
from search._distinct import (
    DUPLICATE_ATTR,
    SOURCE_TRIAL_ATTR,
    DistinctProposals,
    queued_on_purpose,
)
from search._heartbeat import WorkerHeartbeat, recover_stale_trials
from search._reference import REFERENCE_ATTRS
from search._slurm_runs import SlurmRun
from storage import count_trials_ahead
from storage.errors import first_line

logger = logging.getLogger("hpsearch.worker")

BEYOND_BUDGET_REASON = (
    "not run: drawn beyond the study's budget (another worker took the last place at the "
    "same moment)"
)


class StopFlag:
    """Set by SIGTERM/SIGINT/SIGUSR1 (or a caller); the objective checks it at epoch ends.

    Lock-free (two plain attributes, not a ``threading.Event``): a signal handler sets it,
    and a handler can interrupt the main thread anywhere, even inside an earlier handler's
    ``set``; an Event's lock, taken again there, would hang the worker for good.
    """

    def __init__(self) -> None:
        self._requested = False
        self.signal_name: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        """Ask the worker to stop after the current epoch."""
        self.signal_name = reason
        self._requested = True

    def __call__(self) -> bool:
        return self._requested


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    """Turn the first SIGTERM/SIGINT/SIGUSR1 into ``flag.set()``; a second SIGINT interrupts.

    SIGUSR1 is what Slurm sends ahead of a time limit (``--signal``); left to its default it
    would kill the worker mid-trial. Only installs handlers in the main thread (signals
    cannot be caught elsewhere).

    The handler only sets the flag and writes the signal's number to a pipe; a thread logs
    "SIGTERM received". Slurm signals twice at once (the worker, and the batch shell that
    forwards it), and a handler runs again inside itself: one that logged (or took a lock)
    hung or raised there, and the trial stayed RUNNING.
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    stopping = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    previous = {sig: signal.getsignal(sig) for sig in stopping}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # a handler must never wait
    reporter = threading.Thread(
        target=_report_signals, args=(read_end,), name="hpsearch-signals", daemon=True
    )
    reporter.start()

    def handle(signum: int, _frame: Any) -> None:
        if flag._requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.set(signal.Signals(signum).name)
        with contextlib.suppress(OSError):  # a full pipe: already being reported
            os.write(write_end, bytes([signum]))

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_end)  # the reporter reads to the end, then stops
        reporter.join(timeout=5)


def _report_signals(read_end: int) -> None:
    """Log each stop signal once, as it arrives (a thread, so logging may take its locks)."""
    said: set[int] = set()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(64):
            for signum in chunk:
                if signum not in said:
                    said.add(signum)
                    logger.warning(
                        "%s received: finishing at the next epoch boundary",
                        signal.Signals(signum).name,
                    )


@dataclass
class WorkerResult:
    """What one worker did."""

    trials_run: int = 0
    stopped_by: str = "budget"
    seconds: float = 0.0
    requeued: list[int] = field(default_factory=list)
    duplicates_avoided: int = 0  # proposals that repeated a tried configuration, not trained
    given_back: int = 0  # trials drawn beyond the budget: not run (queued ones re-queued)


def count_states(study: optuna.Study) -> dict[str, int]:
    """Number of trials per state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ...).

    One ``COUNT`` query on a database, not a read of every trial: the worker asks before
    every trial.
    """
    return storage.count_trial_states(study._storage, study._study_id)


CARRIED_ATTRS = (SEED_ATTR, SOURCE_TRIAL_ATTR, *REFERENCE_ATTRS)
"""User attributes that say what a queued trial is to run, kept by its re-queued copy,
interrupted or stale (``StorageOpener(carried_attrs=...)``): a seed repeat of ``best
--confirm`` trains with its own seed again, a baseline stays the unpruned baseline."""


def _requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Put an interrupted trial's parameters back in the queue, so no work is lost."""
    study.enqueue_trial(
        trial.params,
        user_attrs=storage.requeued_attrs(trial, CARRIED_ATTRS),
        skip_if_exists=False,
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
            reason = first_line(exc, "out of memory")
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
    distinct: DistinctProposals | None = None,
    queued_only: bool = False,
    slurm_run: SlurmRun | None = None,
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
        distinct: Check each sampled configuration before training it: one that repeats a
            finished, running or queued trial is failed unrun (``duplicate_of``) and
            resampled, and the worker stops when a finite space is exhausted.
        queued_only: Run only queued trials (a confirmation study's seed repeats): with
            none waiting the worker stops instead of sampling a new configuration.
        slurm_run: The Slurm task run this worker is part of: its trials are marked so,
            and those its task's earlier runs left RUNNING are failed and re-queued first.

    Returns:
        A :class:`WorkerResult`.
    """
    stop = stop or StopFlag()
    result = WorkerResult()
    started = time.monotonic()
    duplicates_in_a_row = 0

    def after_trial(trial: FrozenTrial) -> None:
        result.trials_run += 1
        if trial.state == TrialState.FAIL and trial.user_attrs.get("fail_reason") == (
            INTERRUPTED_REASON
        ):
            _requeue(study, trial)
            result.requeued.append(trial.number)
        for callback in callbacks:
            callback(study, trial)

    if slurm_run is not None:
        for dead in slurm_run.fail_earlier_runs(study):
            _requeue(study, dead)
            result.requeued.append(dead.number)
    with WorkerHeartbeat(study) as heartbeat:
        while True:
            if stop():
                result.stopped_by = stop.signal_name or "stop"
                break
            if timeout is not None and time.monotonic() - started >= timeout:
                result.stopped_by = "timeout"
                break
            counts = count_states(study)
            finished = counts["COMPLETE"] + counts["PRUNED"]
            if n_trials is not None:
                if finished >= n_trials:
                    result.stopped_by = "budget"
                    break
                if finished + counts["RUNNING"] >= n_trials:
                    # The rest of the budget is running elsewhere; wait in case one of them
                    # dies and is re-queued (the heartbeat timer recovers it).
                    time.sleep(poll_seconds)
                    continue
            if distinct is not None and (exhausted := _exhausted(study, distinct, counts)):
                result.stopped_by = exhausted
                logger.warning("%s; stopping", exhausted)
                break
            recover_stale_trials(study)  # as study.optimize does before each trial
            if queued_only and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                result.stopped_by = "queue empty"
                break
            trial = study.ask()
            heartbeat.beat(trial._trial_id)
            if slurm_run is not None:
                slurm_run.record(study, trial._trial_id)
            frozen = study._storage.get_trial(trial._trial_id)
            if queued_only and not queued_on_purpose(frozen):
                # Another worker took the last queued trial at the same moment, so the
                # sampler made this one: a confirmation study trains no new configuration.
                fail_unrun(study, trial, "the queue was empty: queued trials only")
                heartbeat.beat(None)
                result.stopped_by = "queue empty"
                break
            if n_trials is not None and (
                count_trials_ahead(study._storage, study._study_id, frozen) >= n_trials
            ):
                # Another worker took the last place at the same moment. A queued trial
                # goes back to the queue with its parameters; a fresh one has none to keep
                # and is failed unrun, or a study at its budget would show queued work.
                heartbeat.beat(None)  # first, or a late beat would outlive the give-back
                if queued_on_purpose(frozen):
                    if slurm_run is not None:
                        slurm_run.forget(study, trial._trial_id)
                    give_back(study, trial)
                else:
                    fail_unrun(study, trial, BEYOND_BUDGET_REASON)
                result.given_back += 1
                time.sleep(poll_seconds)
                continue
            if distinct is not None and not queued_on_purpose(frozen):
                distinct.suggest(trial)
                duplicate = distinct.duplicate_of(study, trial)
                if duplicate is not None:
                    fail_unrun(
                        study,
                        trial,
                        f"duplicate of trial {duplicate}",
                        **{DUPLICATE_ATTR: duplicate},
                    )
                    heartbeat.beat(None)
                    result.duplicates_avoided += 1
                    duplicates_in_a_row += 1
                    queued = distinct.queue_untried(study, trial.number)
                    if not queued and duplicates_in_a_row >= distinct.max_resamples:
                        result.stopped_by = (
                            f"search space exhausted: {duplicates_in_a_row} proposals in a "
                            "row repeated configurations already tried"
                        )
                        logger.warning("%s; stopping", result.stopped_by)
                        break
                    continue
            duplicates_in_a_row = 0
            try:
                done = run_one_trial(study, trial, objective, catch)
            finally:
                heartbeat.beat(None)
            after_trial(done)
    result.seconds = time.monotonic() - started
    return result


def _exhausted(
    study: optuna.Study, distinct: DistinctProposals, counts: dict[str, int]
) -> str | None:
    """Why a finite space has nothing left to try, or ``None``."""
    size = None if distinct.configurations is None else len(distinct.configurations)
    active = counts["COMPLETE"] + counts["PRUNED"] + counts["RUNNING"]
    # Cheap test first: fewer trials than configurations cannot have tried them all.
    if size is None or active < size or distinct.untried(study):
        return None
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if any(queued_on_purpose(t) for t in waiting):
        return None  # a queued trial (baseline, re-queued) still runs as asked
    return f"search space exhausted: all {size} configurations have been tried"
