"""Workers as a Slurm job array: the sbatch script, and submitting, listing, cancelling it.

The script is generated from a template and handed to plain ``sbatch`` (no submitit): each
array task runs one ordinary ``hpsearch worker`` on the shared study, so the script is
short enough to read, to keep next to the study, and to submit again by hand.

Stopping without losing work: Slurm sends SIGTERM before it kills a job (scancel,
preemption, ``scontrol requeue``, the time limit) and, with ``--signal=B:USR1@S``, SIGUSR1
``S`` seconds ahead of the time limit. The script forwards both to the worker, which stops
at the next epoch boundary, fails its trial as ``interrupted`` and queues its parameters
again. After SIGUSR1 the task also requeues itself (``scontrol requeue``), so a study that
outlasts ``--time`` goes on in the task's next run. A worker killed before an epoch boundary
(SIGKILL after ``KillWait``) leaves its trial RUNNING; the task's next run fails it as stale
and queues it again (:mod:`search._slurm_runs`), on a journal storage too.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from search.errors import SlurmError
from storage import mask_password

# Slurm's --time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")
SCRIPT_SUFFIX = ".sbatch"


def default_hpsearch_command() -> tuple[str, ...]:
    """This Python running this checkout's CLI: what the user has, wherever it is installed."""
    return (sys.executable, "-m", "search.cli")


def slurm_dir(storage_url: str, study: str) -> Path:
    """Folder for a study's sbatch scripts and task logs: next to a file storage, else ./.

    A SQLite or journal file on a shared filesystem is where the workers already meet, so
    the scripts and logs go beside it; a database server gets ``./hpsearch-slurm``.
    """
    base = Path("hpsearch-slurm")
    if storage_url.startswith("journal://"):
        base = Path(storage_url[len("journal://") :]).expanduser().resolve().parent / base
    elif storage_url.startswith("sqlite:///") and storage_url != "sqlite:///:memory:":
        base = Path(storage_url[len("sqlite:///") :]).expanduser().resolve().parent / base
    return (base / _safe_name(study)).resolve()


def _safe_name(study: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", study) or "_"


def job_name(study: str) -> str:
    """The Slurm job name of a study's workers; ``status`` and ``cancel`` find them by it."""
    return f"hpsearch-{_safe_name(study)}"


@dataclass(frozen=True)
class WorkerArray:
    """One job array of workers on a study: everything the sbatch script says.

    Checked when built, so a bad value fails before anything is written or submitted.
    """

    study: str
    storage_url: str
    workers: int
    gpus_per_worker: int = 0
    cpus_per_worker: int = 1
    partition: str | None = None
    time_limit: str | None = None
    account: str | None = None
    sbatch_options: tuple[str, ...] = ()
    warning_seconds: int = 120
    hpsearch_command: tuple[str, ...] = field(default_factory=default_hpsearch_command)
    workdir: Path = field(default_factory=Path.cwd)
    output_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SlurmError(f"--workers must be at least 1, but got {self.workers}")
        if self.gpus_per_worker < 0:
            raise SlurmError(
                f"--gpus-per-worker must be 0 (CPU) or more, but got {self.gpus_per_worker}"
            )
        if self.cpus_per_worker < 1:
            raise SlurmError(
                f"--cpus-per-worker must be at least 1, but got {self.cpus_per_worker}"
            )
        if self.warning_seconds < 0:
            raise SlurmError(
                f"--warning-seconds must be 0 (no early signal) or more, but got "
                f"{self.warning_seconds}"
            )
        if self.time_limit is not None and not _TIME.match(self.time_limit):
            raise SlurmError(
                f"--time {self.time_limit!r} is not a Slurm time; accepted: MINUTES, "
                "HH:MM:SS or DAYS-HH:MM:SS"
            )
        for option in self.sbatch_options:
            if not option.startswith("-") or "\n" in option:
                raise SlurmError(
                    f"--sbatch-option {option!r} is not an sbatch option; accepted: one "
                    "option such as --qos=high or --constraint=a100"
                )
        if not self.hpsearch_command:
            raise SlurmError("--hpsearch-command is empty; accepted: e.g. 'hpsearch'")
        if "***" in mask_password(self.storage_url) and "***" not in self.storage_url:
            raise SlurmError(
                f"storage URL {mask_password(self.storage_url)!r} holds a password, which would "
                "be written into the sbatch script; leave it out of the URL and export "
                "PGPASSWORD (Slurm passes your environment on) or use ~/.pgpass"
            )

    @property
    def folder(self) -> Path:
        """Where the script and the tasks' logs are written."""
        return self.output_dir or slurm_dir(self.storage_url, self.study)

    def worker_command(self) -> list[str]:
        """The ``hpsearch worker`` command line each task runs."""
        device = "cuda" if self.gpus_per_worker else "cpu"
        return [
            *self.hpsearch_command,
            "worker",
            "--study",
            self.study,
            "--storage",
            self.storage_url,
            "--device",
            device,
        ]

    def script(self) -> str:
        """The sbatch script of this array."""
        directives = [
            f"--job-name={job_name(self.study)}",
            f"--array=0-{self.workers - 1}",
            "--ntasks=1",
            f"--cpus-per-task={self.cpus_per_worker}",
            # Preemption and node failures put the task back in the queue.
            "--requeue",
            # Append, so a requeued task's log keeps its earlier runs.
            "--open-mode=append",
            f"--output={self.folder}/%x-%A_%a.out",
            f"--chdir={self.workdir}",
        ]
        if self.warning_seconds:
            # B: signals the batch shell, which forwards it to the worker below.
            directives.append(f"--signal=B:USR1@{self.warning_seconds}")
        if self.gpus_per_worker:
            directives.append(f"--gres=gpu:{self.gpus_per_worker}")
        for flag, value in (
            ("partition", self.partition),
            ("time", self.time_limit),
            ("account", self.account),
        ):
            if value is not None:
                directives.append(f"--{flag}={value}")
        directives.extend(self.sbatch_options)  # last, so they override the ones above
        header = "\n".join(f"#SBATCH {directive}" for directive in directives)
        return _TEMPLATE.format(
            study=self.study,
            workers=self.workers,
            header=header,
            command=shlex.join(self.worker_command()),
        )


_TEMPLATE = """\
#!/bin/bash
# {workers} hpsearch workers on study {study!r}, one per array task (hpsearch slurm submit).
{header}

# Torch threads: the cores Slurm gave this task, unless the environment says otherwise.
export OMP_NUM_THREADS="${{OMP_NUM_THREADS:-${{SLURM_CPUS_PER_TASK:-1}}}}"
echo "hpsearch: task ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} (job ${{SLURM_JOB_ID}}) \\
run ${{SLURM_RESTART_COUNT:-0}} on $(hostname) at $(date -u +%FT%TZ)"

# SIGTERM (scancel, preemption, requeue, time limit) and SIGUSR1 (--signal: the time limit
# is near) go to the worker, which stops at the next epoch boundary, fails its trial as
# 'interrupted' and queues it again. After SIGUSR1 this task requeues itself, so a study
# longer than --time goes on in the task's next run.
requeue=0
worker=""
trap 'requeue=1; [ -n "$worker" ] && kill -USR1 "$worker" 2>/dev/null' USR1
trap '[ -n "$worker" ] && kill -TERM "$worker" 2>/dev/null' TERM
{command} &
worker=$!
# A trapped signal ends `wait` early: wait again until the worker itself has exited.
while true; do
    wait "$worker"
    status=$?
    kill -0 "$worker" 2>/dev/null || break
done
if [ "$requeue" = 1 ]; then
    echo "hpsearch: time limit near: requeueing this task (job ${{SLURM_JOB_ID}})"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
"""


def require_slurm(name: str = "sbatch") -> str:
    """The path of a Slurm command; a :class:`SlurmError` when it is not installed."""
    path = shutil.which(name)
    if path is None:
        raise SlurmError(
            f"{name} is not installed or not on PATH; run this on a Slurm login node "
            "(or print the script with `hpsearch slurm submit --dry-run`)"
        )
    return path


def _run_slurm(args: Sequence[str]) -> str:
    """Run a Slurm command; its error becomes one :class:`SlurmError` line."""
    command = [require_slurm(args[0]), *args[1:]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SlurmError(f"{args[0]} refused: {_first_error(done.stderr or done.stdout)}")
    return done.stdout


def _first_error(output: str) -> str:
    """Slurm's own message in one line: ``sbatch: error: invalid partition ...`` -> reason."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0] if lines else "no message"


@dataclass(frozen=True)
class Submission:
    """A submitted array: its job id and the script that was submitted."""

    job_id: str
    script_path: Path


def submit(array: WorkerArray) -> Submission:
    """Write the array's script next to the study and submit it with ``sbatch``.

    Returns:
        The job id and the script's path, named after the job.

    Raises:
        SlurmError: sbatch is missing, or Slurm refused the script (its message).
    """
    require_slurm("sbatch")
    array.folder.mkdir(parents=True, exist_ok=True)
    script_path = array.folder / f"{job_name(array.study)}{SCRIPT_SUFFIX}"
    script_path.write_text(array.script())
    job_id = _run_slurm(["sbatch", "--parsable", str(script_path)]).strip().split(";")[0]
    # sbatch keeps its own copy; this one is named after the job it became.
    submitted = script_path.with_name(f"{job_name(array.study)}-{job_id}{SCRIPT_SUFFIX}")
    script_path.replace(submitted)
    return Submission(job_id, submitted)


@dataclass(frozen=True)
class ArrayTask:
    """One array task as ``squeue`` shows it."""

    task_id: str
    state: str
    elapsed: str
    where: str


def queued_tasks(study: str, job_ids: Sequence[str] = ()) -> list[ArrayTask]:
    """The study's array tasks in the queue (pending, running, completing), one per task."""
    args = ["squeue", "--noheader", "--array", "--format=%i|%T|%M|%R"]
    args += [f"--jobs={','.join(job_ids)}"] if job_ids else ["--me", f"--name={job_name(study)}"]
    tasks = []
    for line in _run_slurm(args).splitlines():
        if line.count("|") == 3:
            tasks.append(ArrayTask(*(part.strip() for part in line.split("|"))))
    return tasks


def _array_ids(tasks: Sequence[ArrayTask]) -> list[str]:
    """``123_4`` and ``123_[5-7]`` -> ``123``: scancel of the array id takes every task."""
    return sorted({task.task_id.split("_", 1)[0] for task in tasks})


def cancel(
    study: str,
    job_ids: Sequence[str] = (),
    *,
    wait_seconds: float = 300.0,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Cancel the study's arrays and wait until their tasks have left the queue.

    Slurm sends SIGTERM first, so each worker ends at an epoch boundary and queues its trial
    again; SIGKILL follows after the cluster's ``KillWait``.

    Returns:
        The array job ids that were cancelled (empty when none was queued).

    Raises:
        SlurmError: scancel failed, or the tasks were still there after ``wait_seconds``.
    """
    arrays = _array_ids(queued_tasks(study, job_ids))
    if not arrays:
        return []
    _run_slurm(["scancel", *arrays])
    deadline = time.monotonic() + wait_seconds
    while queued_tasks(study, arrays):
        if time.monotonic() >= deadline:
            raise SlurmError(
                f"arrays {', '.join(arrays)} were cancelled but still have tasks after "
                f"{wait_seconds:.0f} s; see `squeue --jobs={','.join(arrays)}`"
            )
        sleep(poll_seconds)
    return arrays


def release_stale_trials(
    study: str,
    storage_url: str,
    heartbeat_interval: int,
    *,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Fail (and re-queue) the RUNNING trials whose worker is gone; return how many remain.

    A task killed before its epoch ended leaves its trial RUNNING; once its heartbeat is
    older than the grace period (3 intervals, as the workers use) Optuna's stale-trial
    callback fails it and queues its parameters again. Trials whose workers still send
    heartbeats (outside the cancelled arrays) are left alone. Journal storages have no
    heartbeats: nothing can be told about their RUNNING trials.
    """
    import optuna

    import storage
    from search._heartbeat import recover_stale_trials
    from search._worker import CARRIED_ATTRS, count_states

    if storage_url.startswith(("journal://", "redis://", "rediss://")):
        journal = optuna.load_study(study_name=study, storage=storage.open_storage(storage_url))
        return count_states(journal)["RUNNING"]
    grace = 3 * heartbeat_interval
    backend = storage.open_storage(
        storage_url,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace,
        carried_attrs=CARRIED_ATTRS,
    )
    optuna_study = optuna.load_study(study_name=study, storage=backend)
    deadline = time.monotonic() + grace + heartbeat_interval
    while True:
        recover_stale_trials(optuna_study)
        running = count_states(optuna_study)["RUNNING"]
        if not running or time.monotonic() >= deadline:
            return running
        sleep(poll_seconds)
