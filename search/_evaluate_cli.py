"""``hpsearch evaluate``: test-split scores of chosen trials, the data read once."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from search._cli_options import JsonOption, StorageOption, StudyOption
from storage import DEFAULT_STORAGE_URL


def evaluate_command(
    trial: Annotated[
        list[int] | None,
        typer.Option(
            "--trial",
            metavar="N",
            help="Trial number to score (repeat for several) [default: none; see --baseline].",
        ),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="Also score the trial run from the config's [baseline]."),
    ] = False,
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    as_json: JsonOption = False,
) -> None:
    """Score trials' saved models on the held-back test split (computed once, stored)."""
    from search._evaluate import evaluate_trials

    results = evaluate_trials(study, trial or [], storage, baseline=baseline)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for result in results:
        typer.echo(result_line(result))


def result_line(result: dict[str, Any]) -> str:
    """``trial #3 (baseline): test accuracy=0.9120, ... on 360 examples; validation 0.91``."""
    scores = ", ".join(
        f"{k}={v:.4f}" for k, v in result.items() if isinstance(v, float) and k != "n_test"
    )
    marker = " (baseline)" if result["baseline"] else ""
    validation = ", ".join(f"{v:.4g}" for v in result["validation"] or [])
    note = " (stored result of an earlier evaluation)" if result["cached"] else ""
    return (
        f"trial #{result['trial']}{marker}: test {scores} on {result['n_test']} examples; "
        f"validation {validation}{note}"
    )
