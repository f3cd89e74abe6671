"""``hpsearch worker`` and ``hpsearch launch``: workers that join a study, one or many per host.

Registered on the app in :mod:`search.cli`; errors a user can fix are raised as
:data:`search.errors.USER_ERRORS` and printed there as one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from search._cli_options import (
    EnqueueBaselineOption,
    StorageOption,
    StudyOption,
    ThreadsOption,
    UpdateConfigOption,
    setup_logging,
)
from storage import DEFAULT_STORAGE_URL


def worker_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="Config for a study that does not exist yet [default: none]."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            envvar="HPSEARCH_DEVICE",
            help="auto, cpu, cuda or cuda:N [default: the study's].",
        ),
    ] = None,
    cuda_graphs: Annotated[
        str | None,
        typer.Option(
            "--cuda-graphs",
            envvar="HPSEARCH_CUDA_GRAPHS",
            help="Replay training steps from CUDA graphs: auto, on, off [default: the study's].",
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option(
            "--n-trials",
            help="Trial budget of the whole study, not of this worker [default: the study's].",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", help="Start no new trial after this many seconds [default: no limit]."
        ),
    ] = None,
    heartbeat_interval: Annotated[
        int,
        typer.Option(
            "--heartbeat-interval",
            envvar="HPSEARCH_HEARTBEAT_INTERVAL",
            help="Seconds between heartbeats; a worker silent for 3 intervals is presumed dead "
            "and its trial is failed and re-queued.",
        ),
    ] = 10,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the study with the default config when it does not exist "
            "(without it, or --config, a missing study is an error).",
        ),
    ] = False,
    update_config: UpdateConfigOption = False,
    threads: ThreadsOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose/--quiet", "-v/-q", help="Log every trial, or only warnings.")
    ] = True,
) -> None:
    """Join a study and run trials until the study's budget is reached."""
    from search._study import run_study, worker_config
    from search._threads import configure_threads
    from search._worker import CARRIED_ATTRS, StopFlag, stop_on_signals
    from storage import StorageOpener

    setup_logging(verbose)
    # One storage, with heartbeats, for finding the study, reading its config and the run.
    opener = StorageOpener(heartbeat_interval=heartbeat_interval, carried_attrs=CARRIED_ATTRS)
    study_config = worker_config(
        study,
        storage,
        opener=opener,
        config_path=config,
        create=create,
        device=device,
        cuda_graphs=cuda_graphs,
        n_trials=n_trials,
        timeout=timeout,
        update_config=update_config,
    )
    configure_threads(threads)
    with stop_on_signals(StopFlag()) as stop:
        summary = run_study(
            study_config,
            progress=False,
            update_config=update_config,
            stop=stop,
            opener=opener,
        )
    for line in summary.lines():
        typer.echo(line)


def launch_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Config used to create the study [default: none]."),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option("--gpus", help="GPU indices to use, e.g. 0,1 [default: none, CPU workers]."),
    ] = None,
    workers_per_gpu: Annotated[
        int, typer.Option("--workers-per-gpu", help="Worker processes per GPU.")
    ] = 1,
    workers: Annotated[
        int, typer.Option("--workers", help="CPU worker processes when no --gpus are given.")
    ] = 2,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", help="Trial budget of the whole study [default: the study's]."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Workers start no new trial after this many seconds [default: no limit].",
        ),
    ] = None,
    mps: Annotated[
        bool,
        typer.Option("--mps", help="Run the GPU workers under an NVIDIA MPS daemon."),
    ] = False,
    enqueue_baseline: EnqueueBaselineOption = False,
    update_config: UpdateConfigOption = False,
    threads: ThreadsOption = None,
) -> None:
    """Start and supervise worker processes on this host, one combined progress line."""
    from search._derived import fit_to_study
    from search._launch import (
        Launcher,
        MpsDaemon,
        check_gpus_visible,
        parse_gpus,
        plan_slots,
        remove_if_unused,
        study_exists,
    )
    from search._study import create_study, worker_config
    from search._threads import decide_threads
    from storage import StorageOpener

    setup_logging()
    slots = plan_slots(parse_gpus(gpus), workers_per_gpu, workers)
    daemon = MpsDaemon(parse_gpus(gpus)) if mps else None  # checked before touching storage
    check_gpus_visible(parse_gpus(gpus))
    thread_args = [] if threads is None else ["--threads", str(decide_threads(threads).threads)]
    opener = StorageOpener()
    study_config = worker_config(
        study,
        storage,
        opener=opener,
        config_path=config,
        create=True,
        n_trials=n_trials,
        timeout=timeout,
        update_config=update_config,
    )
    backend = opener(study_config.storage)
    created = not study_exists(study_config.study, backend)
    # Create (or update) the study once here, so the workers do not race to; they then
    # read its stored config (its space fitted to the data here, once).
    study_config, derived = fit_to_study(study_config, opener)
    shared = create_study(
        study_config,
        backend,
        enqueue_baseline=enqueue_baseline,
        update_config=update_config,
        derived_space=derived,
    )
    # The storage URL travels in the environment: a password in it stays out of `ps`.
    args = ["--study", study]
    worker_env = {"HPSEARCH_STORAGE": storage}
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    if gpus:
        args += ["--device", "cuda"]
    args += thread_args
    if daemon is not None:
        daemon.start()
    try:
        launcher = Launcher(
            slots,
            args,
            shared,
            study_config.n_trials,
            echo=typer.echo,
            extra_env={**worker_env, **(daemon.worker_env() if daemon else {})},
        )
        code = launcher.run()
    finally:
        if daemon is not None:
            daemon.stop()
    if code != 0 and created and remove_if_unused(shared):
        typer.echo(f"removed study {study!r}: its workers failed before running a trial", err=True)
    raise typer.Exit(code)
