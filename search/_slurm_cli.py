"""``hpsearch slurm submit|status|cancel``: workers of a study as a Slurm job array."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from search._cli_options import StorageOption, StudyOption
from storage import DEFAULT_STORAGE_URL

slurm_app = typer.Typer(
    name="slurm",
    help="Run a study's workers as a Slurm job array (sbatch), watch and cancel them.",
    no_args_is_help=True,
)

JobIdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--job-id",
        help="Array job id (repeatable) [default: every array of this study's job name].",
    ),
]


def _counts_line(study: str, storage_url: str) -> str:
    from search._results import study_status

    status = study_status(study, storage_url)
    counts = ", ".join(f"{k.lower()} {v}" for k, v in status["counts"].items()) or "no trials"
    budget = f" (budget {status['budget']})" if status["budget"] else ""
    return f"study {study!r}: {counts}{budget}"


@slurm_app.command("submit")
def submit_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    workers: Annotated[int, typer.Option("--workers", help="Array tasks, one worker each.")] = 1,
    gpus_per_worker: Annotated[
        int, typer.Option("--gpus-per-worker", help="GPUs per worker (--gres=gpu:G; 0 = CPU).")
    ] = 0,
    cpus_per_worker: Annotated[
        int, typer.Option("--cpus-per-worker", help="CPU cores per worker (--cpus-per-task).")
    ] = 1,
    partition: Annotated[
        str | None, typer.Option("--partition", help="Slurm partition [default: the cluster's].")
    ] = None,
    time_limit: Annotated[
        str | None,
        typer.Option(
            "--time",
            help="Time limit per task, e.g. 04:00:00; longer studies requeue "
            "[default: the partition's].",
        ),
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Slurm account [default: yours].")
    ] = None,
    sbatch_option: Annotated[
        list[str] | None,
        typer.Option(
            "--sbatch-option",
            help="Extra #SBATCH line, e.g. --qos=high (repeatable) [default: none].",
        ),
    ] = None,
    warning_seconds: Annotated[
        int,
        typer.Option(
            "--warning-seconds",
            help="SIGUSR1 this long before the time limit: the task stops at an epoch "
            "boundary and requeues itself (0: off).",
        ),
    ] = 120,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Create the study from this config first [default: none].",
        ),
    ] = None,
    hpsearch_command: Annotated[
        str | None,
        typer.Option(
            "--hpsearch-command",
            help="How the tasks start hpsearch [default: this Python: PYTHON -m search.cli].",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the sbatch script; submit nothing.")
    ] = False,
) -> None:
    """Submit one job array of workers on a study; print its job id."""
    from search._slurm import WorkerArray, default_hpsearch_command, require_slurm, submit

    array = WorkerArray(
        study=study,
        storage_url=storage,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        partition=partition,
        time_limit=time_limit,
        account=account,
        sbatch_options=tuple(sbatch_option or ()),
        warning_seconds=warning_seconds,
        hpsearch_command=(
            tuple(shlex.split(hpsearch_command))
            if hpsearch_command is not None
            else default_hpsearch_command()
        ),
    )
    if dry_run:
        typer.echo(array.script(), nl=False)
        return
    require_slurm("sbatch")  # before the storage is touched
    from search._prepare import prepare_study
    from search._presets import config_layers
    from search._study import open_study
    from storage import StorageOpener

    # The study exists before any task starts, so the tasks never race to create it (and
    # its space is fitted to the data here, once, as `hpsearch create` fits it).
    if config is not None:
        prepare_study(config_layers(config, study=study, storage=storage), StorageOpener())
    else:
        open_study(study, storage)
    submission = submit(array)
    typer.echo(
        f"submitted array job {submission.job_id}: {workers} workers on study {study!r} "
        f"(script {submission.script_path})"
    )


@slurm_app.command("status")
def status_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    job_id: JobIdOption = None,
) -> None:
    """Show the study's array tasks in the queue beside its trial counts."""
    from search._slurm import job_name, queued_tasks

    tasks = queued_tasks(study, job_id or ())
    if not tasks:
        typer.echo(f"no {job_name(study)} tasks in the Slurm queue")
    for task in tasks:
        typer.echo(f"{task.task_id:<16} {task.state:<11} {task.elapsed:>10}  {task.where}")
    typer.echo(_counts_line(study, storage))


@slurm_app.command("cancel")
def cancel_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    job_id: JobIdOption = None,
    heartbeat_interval: Annotated[
        int,
        typer.Option(
            "--heartbeat-interval",
            envvar="HPSEARCH_HEARTBEAT_INTERVAL",
            help="The workers' heartbeat interval: a trial of a killed task is failed and "
            "re-queued after 3 silent intervals.",
        ),
    ] = 10,
) -> None:
    """Cancel the study's arrays; their trials end as interrupted and are queued again."""
    from search._slurm import cancel, release_stale_trials

    cancelled = cancel(study, job_id or ())
    if not cancelled:
        typer.echo(f"no array of study {study!r} in the Slurm queue")
    else:
        typer.echo(f"cancelled array {', '.join(cancelled)}; all its tasks have ended")
        # A task killed before its epoch ended left a RUNNING trial: fail and re-queue it.
        left = release_stale_trials(study, storage, heartbeat_interval)
        if left:
            typer.echo(
                f"{left} trials are still RUNNING: workers outside these arrays are on them",
                err=True,
            )
    typer.echo(_counts_line(study, storage))
