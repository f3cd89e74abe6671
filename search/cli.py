"""The ``hpsearch`` command line: thin typer commands over plain functions.

Domain code raises the errors in :data:`search.errors.USER_ERRORS`; only this layer turns
them into one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from search.errors import USER_ERRORS

app = typer.Typer(
    name="hpsearch",
    help="Automated hyperparameter search for recurrent text models (Optuna + PyTorch).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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

# Report commands live in their own module so this file stays easy to merge.
from search._report_cli import import_csv_command, report_command, trials_command  # noqa: E402

app.command("report")(report_command)
app.command("trials")(trials_command)
app.command("import-csv")(import_csv_command)
