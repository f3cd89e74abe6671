"""A Slurm task's earlier runs: the trials they left RUNNING are failed and queued again.

Slurm runs one array task once at a time: a requeued or preempted task's next run starts
only after every process of the run before it has ended. A trial that run left RUNNING
(its worker killed before an epoch boundary: SIGKILL after ``KillWait``, the OOM killer, a
node that went down) is certainly dead, yet on a journal storage (no heartbeats) nothing
would ever fail it, and the task's next run would wait for it forever as part of the
budget. So a worker in a Slurm job records on each trial it starts which task and which run
of it it is (:data:`SLURM_RUN_ATTR`), and a worker of run N fails the RUNNING trials of the
same task's runs before N as stale; the caller queues their parameters again, once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from storage import STALE_REASON_PREFIX, write_trial_user_attrs

logger = logging.getLogger("hpsearch.worker")

SLURM_RUN_ATTR = "hpsearch:slurm_run"
"""System attribute of a trial started in a Slurm job: ``{"task": ..., "run": N}``."""


@dataclass(frozen=True)
class SlurmRun:
    """One run of one Slurm task: ``task`` is the same in all its runs, ``run`` counts them.

    Attributes:
        task: Cluster, job id and rank: a requeued task keeps its job id.
        run: ``SLURM_RESTART_COUNT`` (0 in the first run).
        label: The task as ``squeue`` shows it (``123_4``), for messages.
    """

    task: str
    run: int
    label: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SlurmRun | None:
        """The run this process belongs to, or ``None`` outside a Slurm job."""
        job = environ.get("SLURM_JOB_ID")
        if not job:
            return None
        array_job = environ.get("SLURM_ARRAY_JOB_ID")
        array_task = environ.get("SLURM_ARRAY_TASK_ID")
        cluster, rank = environ.get("SLURM_CLUSTER_NAME", ""), environ.get("SLURM_PROCID", "0")
        restarts = environ.get("SLURM_RESTART_COUNT", "0")
        return cls(
            task=f"{cluster}/{job}.{rank}",
            run=int(restarts) if restarts.isdigit() else 0,
            label=f"{array_job}_{array_task}" if array_job and array_task else job,
        )

    def record(self, study: optuna.Study, trial_id: int) -> None:
        """Mark ``trial_id`` (just started) as this run's."""
        value: dict[str, str | int] = {"task": self.task, "run": self.run}
        study._storage.set_trial_system_attr(trial_id, SLURM_RUN_ATTR, value)

    @staticmethod
    def forget(study: optuna.Study, trial_id: int) -> None:
        """Unmark a trial that goes back to the queue unrun: whoever pops it next owns it."""
        study._storage.set_trial_system_attr(trial_id, SLURM_RUN_ATTR, None)

    def fail_earlier_runs(self, study: optuna.Study) -> list[FrozenTrial]:
        """Fail the RUNNING trials of this task's earlier runs as stale.

        Returns:
            The trials this call failed (as they were, with their parameters), for the
            caller to queue again; one failed first by another worker is left to it.
        """
        failed = []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            recorded = trial.system_attrs.get(SLURM_RUN_ATTR)
            if not isinstance(recorded, dict) or recorded.get("task") != self.task:
                continue
            earlier = recorded.get("run")
            if not isinstance(earlier, int) or earlier >= self.run:
                continue  # this run's own (another worker of it), or a later one's
            reason = (
                f"{STALE_REASON_PREFIX} left RUNNING by run {earlier} of Slurm task "
                f"{self.label}, which ended without finishing it (killed); run {self.run} "
                "queued it again"
            )
            try:
                # Before the state: a journal storage takes no attribute on a finished trial.
                write_trial_user_attrs(study._storage, trial._trial_id, {"fail_reason": reason})
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                continue  # failed (and re-queued) by another worker a moment ago
            logger.warning("trial %d: %s", trial.number, reason)
            failed.append(trial)
        return failed
