"""``hpsearch report``, ``hpsearch trials`` and ``hpsearch import-csv``: thin typer commands.

They are registered on the app at the end of :mod:`search.cli`; errors a user can fix are
raised as :data:`search.errors.USER_ERRORS` and printed there as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from search._cli_options import StorageOption, StudyOption
from storage import DEFAULT_STORAGE_URL


def report_command(
    study: StudyOption,
    storage: StorageOption = DEFAULT_STORAGE_URL,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder [default: ./report-<study>/]."),
    ] = None,
) -> None:
    """Write an offline HTML report (plus a PNG per figure) for a study; print its path."""
    from search._report_html import make_report

    typer.echo(make_report(study, storage, out))


def trials_command(
    study: StudyOption,
    storage: StorageOption = DEFAULT_STORAGE_URL,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the table to this CSV file.")
    ] = None,
) -> None:
    """Print the trials of a study as a table, or write them to a CSV file."""
    from search._study import open_study
    from search._trials import trials_table

    table = trials_table(open_study(study, storage))
    if csv is None:
        typer.echo(table.to_string(index=False) if not table.empty else "no trials")
        return
    table.to_csv(csv, index=False)
    typer.echo(f"{len(table)} trials written to {csv}")


def import_csv_command(
    file: Annotated[Path, typer.Argument(help="CSV file of an old sweep, one run per row.")],
    study: StudyOption,
    value_column: Annotated[
        str, typer.Option("--value-column", help="Column holding the objective value.")
    ],
    storage: StorageOption = DEFAULT_STORAGE_URL,
    param_columns: Annotated[
        str | None,
        typer.Option(
            "--param-columns",
            help="Comma-separated columns to import as parameters [default: every column "
            "that is not a metric, loss, duration, epoch, fold or seed].",
        ),
    ] = None,
    direction: Annotated[
        str, typer.Option("--direction", help="maximize or minimize.")
    ] = "maximize",
) -> None:
    """Import the rows of an old sweep's CSV as COMPLETE trials of a study."""
    from search._import_csv import import_csv

    columns = [c.strip() for c in param_columns.split(",") if c.strip()] if param_columns else None
    result = import_csv(file, study, storage, value_column, columns, direction)
    typer.echo(
        f"{result.added} trials added to {study!r}; skipped {result.already_present} already "
        f"imported and {result.missing_value} with no {value_column}. "
        f"Params: {', '.join(result.params) or 'none'}; "
        f"attributes: {', '.join(result.user_attrs) or 'none'}."
    )
