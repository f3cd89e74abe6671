"""The ``hpsearch`` command line: thin typer commands over plain functions.

Domain code raises the errors in :data:`search.errors.USER_ERRORS`; only this layer turns
them into one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from search._best_cli import best_command, predict_command
from search._cli_errors import run_cli
from search._cli_options import (
    ConfigBudgetOption,
    ConfigOption,
    ConfigStorageOption,
    ConfigStudyOption,
    EnqueueBaselineOption,
    JsonOption,
    StorageOption,
    StudyOption,
    ThreadsOption,
    UpdateConfigOption,
    jsonable,
    setup_logging,
)
from search._evaluate_cli import evaluate_command
from search._report_cli import import_csv_command, report_command, trials_command
from search._slurm_cli import slurm_app
from search._worker_cli import launch_command, worker_command
from storage import DEFAULT_STORAGE_URL

app = typer.Typer(
    name="hpsearch",
    help="Automated hyperparameter search for recurrent text models (Optuna + PyTorch).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat every [bracketed] word of the help texts.
    rich_markup_mode=None,
)


@app.command("run")
def run_command(
    config: ConfigOption = None,
    study: ConfigStudyOption = None,
    storage: ConfigStorageOption = None,
    n_trials: ConfigBudgetOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Start no trial after this many seconds [default: config, else no limit].",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="classification, ner, pos, tabular, an installed hpsearch.tasks entry point, "
            "or module:Class [default: config, else classification].",
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="digits (built in), a CSV/TSV, TREC .label, CoNLL-U, IOB or CoNLL-2003 file, "
            "or hf:NAME [default: config, else digits].",
        ),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Shipped config: imdb, imdb_vectors (needs --vectors), ag_news, trec, "
            "ner_uk, conll2003, ud_pos, tabular [default: none].",
        ),
    ] = None,
    enqueue_baseline: EnqueueBaselineOption = False,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective",
            help="module:function of a plain Optuna objective(trial) -> float, run instead "
            "of a task [default: none, train the task].",
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds", help="k-fold cross-validation per trial; 1 is off [default: config, else 1]."
        ),
    ] = None,
    early_stopping: Annotated[
        int | None,
        typer.Option(
            "--early-stopping",
            help="End a trial once this many epochs in a row brought no better validation "
            "value (it completes with its best epoch); 0 is off [default: config, else 0].",
        ),
    ] = None,
    tag_column: Annotated[
        str | None,
        typer.Option(
            "--tag-column",
            help="Tag column (0-based) of a tagged file, or HF column [default: the task's].",
        ),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Classification file layout: auto, table, trec, ag_news "
            "[default: config, else auto].",
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            "--text-column", help="Text column of a CSV/TSV [default: config, else text]."
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            "--label-column", help="Label column of a CSV/TSV [default: config, else label]."
        ),
    ] = None,
    test_data: Annotated[
        str | None,
        typer.Option(
            "--test-data", help="Held-back test file [default: config, else 20% of --data]."
        ),
    ] = None,
    validation_data: Annotated[
        str | None,
        typer.Option(
            "--validation-data",
            help="File the trials are scored on (a development split); all of --data then "
            "trains [default: config, else 20% of the training rows].",
        ),
    ] = None,
    vectors: Annotated[
        str | None,
        typer.Option(
            "--vectors",
            help="Pretrained word vectors (GloVe/word2vec/fastText text, .gz too); trials "
            "search pretrained and freeze_embeddings [default: config, else none].",
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Epochs per trial [default: config, else 10].")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto, cpu, cuda or cuda:N [default: config, else auto]."),
    ] = None,
    cuda_graphs: Annotated[
        str | None,
        typer.Option(
            "--cuda-graphs",
            help="Replay training steps from CUDA graphs: auto, on, off "
            "[default: config, else auto].",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed [default: config, else 0].")
    ] = None,
    update_config: UpdateConfigOption = False,
    threads: ThreadsOption = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="Print no progress bar or progress lines.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every trial.")] = False,
) -> None:
    """Create (or resume) a study and run it until its trial budget is reached."""
    from search._presets import config_layers
    from search._resume import resolve_config
    from search._study import run_study
    from search._threads import configure_threads
    from search._worker import StopFlag, stop_on_signals
    from storage import StorageOpener

    setup_logging(verbose)
    layers = config_layers(
        config,
        preset=preset,
        objective=objective,
        folds=folds,
        early_stopping=early_stopping,
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
        validation_data=validation_data,
        vectors=vectors,
        epochs=epochs,
        device=device,
        cuda_graphs=cuda_graphs,
        seed=seed,
    )
    configure_threads(threads)
    opener = StorageOpener()  # one storage for reading the stored config and running
    study_config = resolve_config(layers, update_config=update_config, opener=opener)
    # The entry point owns the signals: the first Ctrl-C/SIGTERM stops at an epoch boundary.
    with stop_on_signals(StopFlag()) as stop:
        summary = run_study(
            study_config,
            progress=not no_progress,
            enqueue_baseline_trial=enqueue_baseline,
            update_config=update_config,
            stop=stop,
            opener=opener,
        )
    for line in summary.lines():
        typer.echo(line)


app.command("best")(best_command)
app.command("predict")(predict_command)


@app.command("status")
def status_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    as_json: JsonOption = False,
) -> None:
    """Show trial counts by state and the best value so far."""
    from search._results import study_status

    setup_logging()
    status = study_status(study, storage)
    if as_json:
        typer.echo(json.dumps(jsonable(status), indent=2))
        return
    counts = ", ".join(f"{k.lower()} {v}" for k, v in status["counts"].items()) or "no trials"
    budget = f" (budget {status['budget']})" if status["budget"] else ""
    typer.echo(f"study {study!r}: {counts}{budget}")
    metric = status["metric"]
    metric = ", ".join(metric) if isinstance(metric, list) else (metric or "-")
    typer.echo(f"directions: {', '.join(status['directions'])}; metric: {metric}")
    typer.echo(f"best value: {_best_value_text(status['best_value'])}")
    for line in status["config_changes"]:
        typer.echo(line)
    for line in status["derived_space"]:
        typer.echo(f"space fitted to the data: {line}")
    typer.echo(f"sampler phase: {status['phase']}")


def _best_value_text(best: Any) -> str:
    if best is None:
        return "none yet (no completed trial)"
    if isinstance(best, list):  # several objectives: the Pareto front's values
        front = "; ".join(", ".join(f"{value:.6g}" for value in values) for values in best)
        return f"Pareto front of {len(best)} trials: {front}"
    return f"{best:.6g}"


@app.command("create")
def create_command(
    config: ConfigOption = None,
    study: ConfigStudyOption = None,
    storage: ConfigStorageOption = None,
    n_trials: ConfigBudgetOption = None,
    enqueue_baseline: EnqueueBaselineOption = False,
    update_config: UpdateConfigOption = False,
) -> None:
    """Create a study from a config without running it (idempotent); workers then join it."""
    from search._prepare import prepare_study
    from search._presets import config_layers
    from storage import StorageOpener, mask_password

    setup_logging()
    layers = config_layers(config, study=study, storage=storage, n_trials=n_trials)
    study_config, created = prepare_study(
        layers, StorageOpener(), enqueue_baseline=enqueue_baseline, update_config=update_config
    )
    counts = len(created.trials)
    typer.echo(
        f"study {study_config.study!r} is ready in {mask_password(study_config.storage)} "
        f"({counts} trials so far, budget {study_config.n_trials})"
    )


# Defined in search/_worker_cli.py; registered here so `hpsearch --help` keeps its order.
app.command("worker")(worker_command)
app.command("launch")(launch_command)


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

    setup_logging()
    serve_dashboard(storage, host=host, port=port, echo=lambda line: typer.echo(line, err=True))


app.command("report")(report_command)
app.command("trials")(trials_command)
app.command("import-csv")(import_csv_command)
app.command("evaluate")(evaluate_command)
app.add_typer(slurm_app)


def main() -> None:
    """Console-script entry point: usage and user errors are one line and exit code 2."""
    sys.exit(run_cli(app))


if __name__ == "__main__":
    main()
