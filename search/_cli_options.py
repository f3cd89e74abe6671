"""Options and output helpers shared by the ``hpsearch`` commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from storage import DEFAULT_STORAGE_URL

EnqueueBaselineOption = Annotated[
    bool,
    typer.Option(
        "--enqueue-baseline",
        help="Run the config's hand-tuned [baseline], then its [[known_good]] "
        "configurations, as the first trials.",
    ),
]
# A command that builds its config from a file and flags (run, create): each defaults to
# the config's value, then to the built-in one.
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Study config (.toml or .yaml) [default: none]."),
]
ConfigStudyOption = Annotated[
    str | None,
    typer.Option(
        "--study", envvar="HPSEARCH_STUDY", help="Study name [default: config, else demo]."
    ),
]
ConfigStorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="HPSEARCH_STORAGE",
        help=f"Storage URL [default: config, else {DEFAULT_STORAGE_URL}].",
    ),
]
ConfigBudgetOption = Annotated[
    int | None,
    typer.Option("--n-trials", help="Trial budget of the whole study [default: config, else 20]."),
]
StudyOption = Annotated[str, typer.Option("--study", envvar="HPSEARCH_STUDY", help="Study name.")]
StorageOption = Annotated[
    str,
    typer.Option(
        "--storage",
        envvar="HPSEARCH_STORAGE",
        help="Storage URL: sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UpdateConfigOption = Annotated[
    bool,
    typer.Option(
        "--update-config",
        help="Store options that differ from an existing study's config (the change is "
        "recorded with the trial it takes effect at); without it they are an error.",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        envvar="HPSEARCH_THREADS",
        help="Torch threads per worker [default: usable cores / workers on the host].",
    ),
]


def setup_logging(verbose: bool = False) -> None:
    """Log warnings (or, ``verbose``, every INFO line) of hpsearch and Optuna to stderr."""
    import optuna

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Optuna logs every trial at INFO; the progress bar and summary say it once instead.
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


def jsonable(value: Any) -> Any:
    """``value`` as JSON can print it: dates as ISO text, enums by name, keys as text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, (int, float)):
        return value.name
    return value
