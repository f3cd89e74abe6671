"""``hpsearch best`` (the best trial, its test score, its config, its seed repeats) and
``hpsearch predict`` (the best model on new inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from search._cli_options import JsonOption, StorageOption, StudyOption, jsonable, setup_logging
from storage import DEFAULT_STORAGE_URL

EnsembleOption = Annotated[
    int | None,
    typer.Option(
        "--ensemble",
        metavar="K",
        help="Average the class probabilities of the best K trials' saved models "
        "(classification, tabular, a LabelPerInput task; K <= keep_checkpoints) [default: none].",
    ),
]


def best_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    as_json: JsonOption = False,
    evaluate_test: Annotated[
        bool,
        typer.Option(
            "--evaluate-test",
            help="Score the best model (with --ensemble, the ensemble) on the held-back test split "
            "(computed once, stored).",
        ),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the best trial as a config (.toml/.yaml/.json) with every parameter "
            "fixed, for `hpsearch run --config FILE` to retrain it [default: none].",
        ),
    ] = None,
    confirm: Annotated[
        int | None,
        typer.Option(
            "--confirm",
            help="Re-train the best K trials with S seeds each (--seeds=S) in study STUDY-confirm ("
            "`hpsearch worker` processes can join it; re-running continues), then print "
            "mean +- std of validation and test per configuration and pick the best mean "
            "[default: none].",
        ),
    ] = None,
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Seeds per trial for --confirm [default: 3].")
    ] = None,
    queue_only: Annotated[
        bool,
        typer.Option("--queue-only", help="With --confirm: queue the repeats for workers only."),
    ] = False,
    ensemble: EnsembleOption = None,
) -> None:
    """Print the best trial: number, value, params and user attributes."""
    from search._results import best_trial, evaluate_best_on_test

    setup_logging()
    if ensemble is not None:
        _ensemble(
            study,
            storage,
            ensemble,
            evaluate_test,
            as_json=as_json,
            others=(confirm is not None or seeds is not None or queue_only or export is not None),
        )
        return
    if confirm is not None or seeds is not None or queue_only:
        _confirm(study, storage, confirm, seeds, queue_only=queue_only, as_json=as_json)
        return
    if export is not None:
        from search._export import export_best_config

        number = export_best_config(study, storage, export)
        typer.echo(f"best trial #{number} written to {export}; retrain: hpsearch run -c {export}")
        return
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
        typer.echo(json.dumps(jsonable(record), indent=2))
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
        note = " (stored result of an earlier evaluation)" if test["cached"] else ""
        typer.echo(f"test split ({test['n_test']} examples): {_scores(test)}{note}")


def _ensemble(
    study: str, storage: str, size: int, evaluate_test: bool, *, as_json: bool, others: bool
) -> None:
    """``best --ensemble K``: the K best trials' averaged probabilities, scored."""
    from search._ensemble import evaluate_ensemble
    from search.errors import ConfigError

    if others:
        raise ConfigError(
            "--ensemble goes with --evaluate-test and --json only, not with "
            "--confirm, --seeds, --queue-only or --export"
        )
    result = evaluate_ensemble(study, storage, size, test=evaluate_test)
    if as_json:
        typer.echo(json.dumps(jsonable(result), indent=2))
        return
    numbers = ", ".join(f"#{n}" for n in result["trials"])
    members = f"ensemble of the best {size} trial{'s' if size != 1 else ''} ({numbers})"
    best = result["best"]
    if result["validation"] is None:
        typer.echo(
            f"{members}: validation not scored (with folds, each member trained on part of it)"
        )
    else:
        typer.echo(
            f"{members}: validation {_scores(result['validation'])}; the best trial "
            f"#{best['number']} alone: {best['value']:.4f}"
        )
    if evaluate_test:
        test = result["test"]
        note = " (stored result of an earlier evaluation)" if result["cached"] else ""
        typer.echo(f"test split ({test['n_test']} examples): {_scores(test)}{note}")


def _scores(metrics: dict[str, Any]) -> str:
    """``accuracy=0.9120, macro_f1=0.9087, loss=0.2811`` (numbers only, counts left out)."""
    return ", ".join(
        f"{k}={v:.4f}"
        for k, v in metrics.items()
        if isinstance(v, float) and k not in ("trial", "n_test")
    )


def _confirm(
    study: str,
    storage: str,
    top_k: int | None,
    seeds: int | None,
    *,
    queue_only: bool,
    as_json: bool,
) -> None:
    """``best --confirm K --seeds S``: the seed repeats, trained here unless ``queue_only``."""
    from search._confirm import confirm_best
    from search._threads import configure_threads
    from search._worker import StopFlag, stop_on_signals
    from search.errors import ConfigError

    if top_k is None:
        raise ConfigError("--seeds and --queue-only go with --confirm K (trials to re-train)")
    if not queue_only:
        configure_threads(None)
    with stop_on_signals(StopFlag()) as stop:
        result = confirm_best(
            study, storage, top_k, 3 if seeds is None else seeds, train=not queue_only, stop=stop
        )
    if as_json:
        typer.echo(json.dumps(jsonable(result.to_dict()), indent=2))
        return
    for line in result.lines():
        typer.echo(line)


def predict_command(
    input_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="A text (or feature row) per line; a sentence per line for taggers; a CSV "
            "with the training columns for tabular. Or give it as --input.",
            show_default=False,
        ),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help="The inputs' file, as FILE [default: none]."),
    ] = None,
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    ensemble: EnsembleOption = None,
) -> None:
    """Print the best model's prediction for each input of FILE: a label, or a tag per token."""
    from search._cli_errors import USAGE_ERROR

    if input_file is None and input_path is None:
        raise USAGE_ERROR("predict needs the inputs' file: hpsearch predict FILE (or --input FILE)")
    if input_file is not None and input_path is not None and input_file != input_path:
        raise USAGE_ERROR(
            f"predict reads one file, but got FILE {str(input_file)!r} and --input "
            f"{str(input_path)!r}; give one of them"
        )
    from search._predict import predict_file

    setup_logging()
    path = input_file if input_file is not None else input_path
    assert path is not None  # one of the two, checked above
    for line in predict_file(study, path, storage, ensemble=ensemble):
        typer.echo(line)
