"""``hpsearch report``, ``hpsearch trials`` and ``hpsearch import-csv``: thin typer commands.

They are registered on the app at the end of :mod:`search.cli`; errors a user can fix are
raised as :data:`search.errors.USER_ERRORS` and printed there as one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from search._cli_options import StorageOption, StudyOption
from search._report_defaults import DEFAULT_TOP_K
from storage import DEFAULT_STORAGE_URL


def report_command(
    ctx: typer.Context,
    study: Annotated[
        str | None,
        typer.Option(
            "--study",
            envvar="HPSEARCH_STUDY",
            help="Study name [default: demo, the study `hpsearch run` makes; not with --compare].",
        ),
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE_URL,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder [default: ./report-<study>/, or ./compare-<A>-vs-<B>/].",
        ),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="STUDY_A STUDY_B",
            help="Compare two studies of --storage side by side instead: best value over "
            "trials and over time, and their best configurations [default: none].",
        ),
    ] = None,
    top_k: Annotated[
        int,
        typer.Option(
            "--top-k", help="Marginal-effect plots for this many top parameters (at least 1)."
        ),
    ] = DEFAULT_TOP_K,
    include_pruned: Annotated[
        bool,
        typer.Option(
            "--include-pruned",
            help="Count pruned trials in the marginal effects at their last reported value "
            "(labelled so); by default only completed trials are used.",
        ),
    ] = False,
) -> None:
    """Write an offline HTML report (plus a PNG per figure and summary.txt); print its path."""
    if compare is not None:
        # HPSEARCH_STUDY in the environment is fine; --study typed beside --compare is not.
        # By the source's name: typer >= 0.2x bundles its own click, with its own enum.
        source = ctx.get_parameter_source("study")
        if source is not None and source.name == "COMMANDLINE":
            from search.errors import ConfigError  # imports objectives (torch): only here

            raise ConfigError(
                f"--study {study!r} and --compare {compare[0]} {compare[1]} ask for two "
                "different reports; give one (a report of one study, or a comparison of two)"
            )
        from search._report_compare import make_comparison

        typer.echo(make_comparison(compare[0], compare[1], storage, out))
        return
    from search._report import ReportOptions
    from search._report_html import make_report

    options = ReportOptions(top_k=top_k, include_pruned=include_pruned)
    typer.echo(make_report(study or "demo", storage, out, options))


def trials_command(
    study: StudyOption = "demo",
    storage: StorageOption = DEFAULT_STORAGE_URL,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the table to this CSV file [default: print it]."),
    ] = None,
) -> None:
    """Print the trials of a study (state, value, seconds, epochs, hyperparameters), or
    write every column, dates, attributes and per-epoch histories too, to a CSV file."""
    from search._study import open_study
    from search._trials import format_readable, trials_table, write_csv

    table = trials_table(open_study(study, storage))
    if csv is None:
        empty = table.empty
        typer.echo("no trials" if empty else format_readable(table))
        return
    write_csv(table, csv)
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
