"""The ``hpsearch`` command line: thin typer commands over plain functions.

Domain code raises the errors in :data:`search.errors.USER_ERRORS`; only this layer turns
them into one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from search._cli_options import EnqueueBaselineOption, StorageOption, StudyOption
from search._report_cli import import_csv_command, report_command, trials_command
from search.errors import USER_ERRORS
from storage import DEFAULT_STORAGE_URL

app = typer.Typer(
    name="hpsearch",
    help="Automated hyperparameter search for recurrent text models (Optuna + PyTorch).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _setup_logging(verbose: bool = False) -> None:
    import optuna

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Optuna logs every trial at INFO; the progress bar and summary say it once instead.
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


@app.command("run")
def run_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Study config (.toml or .yaml).")
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", envvar="HPSEARCH_STUDY", help="Study name [demo].")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage", envvar="HPSEARCH_STORAGE", help=f"Storage URL [{DEFAULT_STORAGE_URL}]."
        ),
    ] = None,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", help="Trial budget of the whole study [30].")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Stop starting trials after this many s.")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="classification, ner, pos or tabular [classification]."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="digits (built in), a CSV/TSV, TREC .label, CoNLL-U, IOB or CoNLL-2003 file, "
            "or hf:NAME [digits].",
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Shipped config: imdb, ag_news, trec, ner_uk, conll2003, ud_pos, tabular.",
        ),
    ] = None,
    enqueue_baseline: EnqueueBaselineOption = False,
    folds: Annotated[
        int | None, typer.Option("--folds", help="k-fold cross-validation per trial [1: off].")
    ] = None,
    tag_column: Annotated[
        str | None,
        typer.Option("--tag-column", help="Tag column (0-based) of a tagged file, or HF column."),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option("--format", help="Classification file layout: auto, table, trec, ag_news."),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="Text column of a CSV/TSV [text].")
    ] = None,
    label_column: Annotated[
        str | None, typer.Option("--label-column", help="Label column of a CSV/TSV [label].")
    ] = None,
    test_data: Annotated[
        str | None, typer.Option("--test-data", help="Held-back test CSV/TSV (optional).")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs per trial [15].")] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N [auto].")
    ] = None,
    cuda_graphs: Annotated[
        str | None,
        typer.Option(
            "--cuda-graphs", help="Replay training steps from CUDA graphs: auto, on, off [auto]."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed [0].")] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Hide the progress bar.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every trial.")] = False,
) -> None:
    """Create (or resume) a study and run it until its trial budget is reached."""
    from search._config import load_config
    from search._study import run_study

    _setup_logging(verbose)
    study_config = load_config(
        config,
        preset=preset,
        folds=folds,
        tag_column=tag_column,
        data_format=data_format,
        study=study,
        storage=storage,
        n_trials=n_trials,
        timeout=timeout,
        task=task,
        data=data,
        text_column=text_column,
        label_column=label_column,
        test_data=test_data,
        epochs=epochs,
        device=device,
        cuda_graphs=cuda_graphs,
        seed=seed,
    )
    summary = run_study(
        study_config, progress=not no_progress, enqueue_baseline_trial=enqueue_baseline
    )
    for line in summary.lines():
        typer.echo(line)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, (int, float)):
        return value.name
    return value


@app.command("best")
def best_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    evaluate_test: Annotated[
        bool,
        typer.Option(
            "--evaluate-test",
            help="Score the best model on the held-back test split (computed once, stored).",
        ),
    ] = False,
) -> None:
    """Print the best trial: number, value, params and user attributes."""
    from search._study import best_trial, evaluate_best_on_test

    _setup_logging()
    trial = best_trial(study, storage)
    record: dict[str, Any] = {
        "number": trial.number,
        "value": trial.value,
        "params": trial.params,
        "user_attrs": {k: v for k, v in trial.user_attrs.items() if k != "val_history"},
    }
    if evaluate_test:
        record["test"] = evaluate_best_on_test(study, storage)
    if as_json:
        typer.echo(json.dumps(_jsonable(record), indent=2))
        return
    typer.echo(f"best trial: #{record['number']}  value: {record['value']:.6g}")
    typer.echo("params:")
    for key, value in record["params"].items():
        typer.echo(f"  {key}: {value}")
    typer.echo("user attributes:")
    for key, value in record["user_attrs"].items():
        typer.echo(f"  {key}: {value}")
    if evaluate_test:
        test = record["test"]
        scores = ", ".join(
            f"{k}={v:.4f}"
            for k, v in test.items()
            if isinstance(v, float) and k not in ("trial", "n_test")
        )
        note = " (stored result of an earlier evaluation)" if test["cached"] else ""
        typer.echo(f"test split ({test['n_test']} examples): {scores}{note}")


@app.command("status")
def status_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show trial counts by state and the best value so far."""
    from search._study import study_status

    _setup_logging()
    status = study_status(study, storage)
    if as_json:
        typer.echo(json.dumps(_jsonable(status), indent=2))
        return
    counts = ", ".join(f"{k.lower()} {v}" for k, v in status["counts"].items()) or "no trials"
    budget = f" (budget {status['budget']})" if status["budget"] else ""
    typer.echo(f"study {study!r}: {counts}{budget}")
    typer.echo(f"directions: {', '.join(status['directions'])}; metric: {status['metric']}")
    typer.echo(f"best value: {status['best_value']}")


@app.command("create")
def create_command(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Study config (.toml or .yaml).")
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", envvar="HPSEARCH_STUDY", help="Study name.")
    ] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", envvar="HPSEARCH_STORAGE", help="Storage URL.")
    ] = None,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", help="Trial budget of the whole study.")
    ] = None,
    enqueue_baseline: EnqueueBaselineOption = False,
) -> None:
    """Create a study from a config without running it (idempotent); workers then join it."""
    from search._config import load_config
    from search._study import create_study

    _setup_logging()
    study_config = load_config(config, study=study, storage=storage, n_trials=n_trials)
    created = create_study(study_config, enqueue_baseline=enqueue_baseline)
    counts = len(created.trials)
    typer.echo(
        f"study {study_config.study!r} is ready in {study_config.storage} "
        f"({counts} trials so far, budget {study_config.n_trials})"
    )


@app.command("worker")
def worker_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Config for a study that does not exist yet."),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", envvar="HPSEARCH_DEVICE", help="cpu, cuda, cuda:N.")
    ] = None,
    cuda_graphs: Annotated[
        str | None,
        typer.Option(
            "--cuda-graphs",
            envvar="HPSEARCH_CUDA_GRAPHS",
            help="Replay training steps from CUDA graphs: auto, on, off [the study's].",
        ),
    ] = None,
    n_trials: Annotated[
        int | None,
        typer.Option("--n-trials", help="Trial budget of the whole study (not of this worker)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Start no new trial after this many s.")
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every trial.")] = True,
) -> None:
    """Join a study (existing or new) and run trials until the study's budget is reached."""
    from search._study import run_study, worker_config

    _setup_logging(verbose)
    study_config = worker_config(
        study,
        storage,
        config_path=config,
        device=device,
        cuda_graphs=cuda_graphs,
        n_trials=n_trials,
        timeout=timeout,
    )
    summary = run_study(study_config, progress=False, heartbeat_interval=heartbeat_interval)
    for line in summary.lines():
        typer.echo(line)


@app.command("launch")
def launch_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Config used to create the study.")
    ] = None,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="GPU indices to use, e.g. 0,1 (none: CPU).")
    ] = None,
    workers_per_gpu: Annotated[
        int, typer.Option("--workers-per-gpu", help="Worker processes per GPU.")
    ] = 1,
    workers: Annotated[
        int, typer.Option("--workers", help="CPU worker processes when no --gpus are given.")
    ] = 2,
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", help="Trial budget of the whole study.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Workers start no new trial after this.")
    ] = None,
    mps: Annotated[
        bool,
        typer.Option("--mps", help="Run the GPU workers under an NVIDIA MPS daemon."),
    ] = False,
    enqueue_baseline: EnqueueBaselineOption = False,
) -> None:
    """Start and supervise worker processes on this host, one combined progress line."""
    from search._launch import Launcher, MpsDaemon, parse_gpus, plan_slots
    from search._study import create_study, worker_config

    _setup_logging()
    slots = plan_slots(parse_gpus(gpus), workers_per_gpu, workers)
    daemon = MpsDaemon(parse_gpus(gpus)) if mps else None  # checked before touching storage
    study_config = worker_config(
        study, storage, config_path=config, n_trials=n_trials, timeout=timeout
    )
    # Create the study once here, so the workers do not race to create it.
    shared = create_study(study_config, enqueue_baseline=enqueue_baseline)
    args = ["--study", study, "--storage", storage]
    if timeout is not None:
        args += ["--timeout", str(timeout)]
    if gpus:
        args += ["--device", "cuda"]
    if daemon is not None:
        daemon.start()
    try:
        launcher = Launcher(
            slots,
            args,
            shared,
            study_config.n_trials,
            echo=typer.echo,
            extra_env=daemon.worker_env() if daemon else None,
        )
        code = launcher.run()
    finally:
        if daemon is not None:
            daemon.stop()
    raise typer.Exit(code)


@app.command("dashboard")
def dashboard_command(
    storage: StorageOption = DEFAULT_STORAGE_URL,
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8080,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. optuna-dashboard has no authentication: use "
            "0.0.0.0 only inside a container or behind a reverse proxy with auth.",
        ),
    ] = "127.0.0.1",
) -> None:
    """Watch the studies of a storage in optuna-dashboard (Ctrl-C stops it)."""
    from search._dashboard import serve_dashboard

    _setup_logging()
    serve_dashboard(storage, host=host, port=port, echo=lambda line: typer.echo(line, err=True))


app.command("report")(report_command)
app.command("trials")(trials_command)
app.command("import-csv")(import_csv_command)


def main() -> None:
    """Console-script entry point: run the app, print user errors as one line, exit 2."""
    try:
        app(standalone_mode=False)
    except USER_ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, EOFError):
        sys.exit(1)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
