"""One timer per worker: the running trial's heartbeat and the recovery of dead workers' trials.

Optuna fails stale trials only when a worker starts its next trial, so a dead worker's
trial waited until some other worker finished a (possibly long) trial. Here every worker
also checks on a timer, every heartbeat interval, whether it is training or idle: a trial
whose heartbeat is older than the grace period is failed and re-queued (by the storage's
``RetryHeartbeatStaleTrialCallback``) within grace + one interval of its worker's death.
"""

from __future__ import annotations

import logging
import threading
import warnings
from types import TracebackType

import optuna
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

logger = logging.getLogger("hpsearch.worker")

# fail_stale_trials is marked experimental in Optuna 5 but is the documented recovery path;
# a filter set once (not warnings.catch_warnings, which is not thread-safe) keeps it quiet.
warnings.filterwarnings(
    "ignore",
    message=r".*fail_stale_trials is experimental",
    category=optuna.exceptions.ExperimentalWarning,
)
# The worker loop asks for trials itself and runs this heartbeat, so Optuna's reminder that
# heartbeats belong to Study.optimize does not apply.
warnings.filterwarnings(
    "ignore", message="Heartbeat of storage is supposed to be used with Study.optimize"
)


def recover_stale_trials(study: optuna.Study) -> None:
    """Fail the study's trials whose worker stopped sending heartbeats (and re-queue them).

    A no-op on storages without heartbeats. Another worker failing the same trial at the
    same moment is harmless: Optuna lets only one of them change its state.
    """
    if is_heartbeat_enabled(study._storage):
        optuna.storages.fail_stale_trials(study)


class WorkerHeartbeat:
    """A background thread: heartbeat of the current trial, then a stale-trial check.

    Use as a context manager around the worker loop and call :meth:`beat` with each trial
    it starts (``None`` when it finished). Without heartbeats in the storage it does
    nothing.
    """

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        storage = study._storage
        self.interval: int | None = None
        self._storage: BaseHeartbeat | None = None
        if is_heartbeat_enabled(storage):
            assert isinstance(storage, BaseHeartbeat)
            self._storage = storage
            self.interval = storage.get_heartbeat_interval()
        self._trial_id: int | None = None
        # Held while the timer beats, so once beat() returns no beat for the previous trial
        # is still on its way (a trial given back must not get one after its row is gone).
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WorkerHeartbeat:
        if self.interval is not None:
            self._thread = threading.Thread(
                target=self._run, name="hpsearch-heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def beat(self, trial_id: int | None) -> None:
        """Follow ``trial_id`` from now on; its first heartbeat is recorded at once.

        A trial without any heartbeat is never found stale, so the first one must not wait
        for the timer.
        """
        with self._lock:
            self._trial_id = trial_id
            if trial_id is not None and self._storage is not None:
                self._storage.record_heartbeat(trial_id)

    def _run(self) -> None:
        assert self.interval is not None and self._storage is not None
        while not self._stop.wait(self.interval):
            try:
                with self._lock:
                    if self._trial_id is not None:
                        self._storage.record_heartbeat(self._trial_id)
                recover_stale_trials(self.study)
            except Exception as exc:  # the timer must outlive a database outage
                logger.warning("heartbeat / stale-trial check failed: %s", exc)
