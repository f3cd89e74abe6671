"""Options shared by the ``hpsearch`` commands."""

from __future__ import annotations

from typing import Annotated

import typer

EnqueueBaselineOption = Annotated[
    bool,
    typer.Option(
        "--enqueue-baseline", help="Run the config's hand-tuned [baseline] as the first trial."
    ),
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
