"""How the ``hpsearch`` entry point turns what a command raised into output and an exit code.

Usage errors (unknown option or command, a bad value, a missing option) come from whichever
click typer runs on: recent typer releases (0.29 here) bundle their own copy
(``typer._click``), older ones use the ``click`` package, so ``import click`` would catch
nothing on the newer ones. Both export ``typer.BadParameter``, a subclass of that click's
``ClickException``, so the class is found from it and nothing here depends on which click
it is.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
import typer.main

from search.errors import EXIT_INTERRUPTED, EXIT_USAGE

CLICK_EXCEPTION: type[Exception] = next(
    base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException"
)
USAGE_ERROR: type[Exception] = next(
    base for base in typer.BadParameter.__mro__ if base.__name__ == "UsageError"
)
"""That click's ``UsageError``: a command raises it for arguments that do not go together,
and the user sees the one ``error:`` line and the command's usage line click errors get."""


def program_name() -> str:
    """What the user typed to start the CLI: ``hpsearch`` or ``python -m search.cli``."""
    name = os.path.basename(sys.argv[0])
    return "python -m search.cli" if name in ("cli.py", "__main__.py", "-c") else name


def _usage(app: typer.Typer, args: list[str]) -> str:
    """The usage line of the command named in ``args`` (or of the app itself).

    Click attaches no context to some parser errors ("option requires an argument"), so the
    usage line is built here from the command the arguments name.
    """
    command: Any = typer.main.get_command(app)
    ctx = command.context_class(command, info_name=program_name())
    for arg in args:  # down through groups (`slurm submit`) as far as the arguments name
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            continue
        command = sub
        ctx = command.context_class(command, info_name=arg, parent=ctx)
    return str(command.get_usage(ctx))


def _given_value(exc: Exception, args: list[str]) -> str | None:
    """The value the user gave the option a :class:`BadParameter` is about, if any."""
    param = getattr(exc, "param", None)
    for opt in getattr(param, "opts", None) or ():
        for index, arg in enumerate(args):
            if arg == opt and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{opt}="):
                return arg[len(opt) + 1 :]
    return None


def usage_error_lines(exc: Exception, app: typer.Typer, args: list[str]) -> list[str]:
    """One ``error:`` line naming the bad option or value, then the command's usage line."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    value = _given_value(exc, args)
    if value is not None and repr(value) not in message:
        # Newer typer says "Input should be a valid integer" without the value it got.
        message = f"{message} (got {value!r})"
    ctx = getattr(exc, "ctx", None)
    usage = ctx.get_usage() if ctx is not None else _usage(app, args)
    return [f"error: {' '.join(message.split())}", f"{usage.strip()}  (--help lists every option)"]


def run_cli(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run a typer app without click's standalone handling and return the exit code.

    A usage error prints :func:`usage_error_lines` (exit 2); an error the user can fix
    (:data:`search.errors.USER_ERRORS`) prints one ``error:`` line (exit 2); nothing a user
    can cause prints a traceback.
    """
    args = sys.argv[1:] if args is None else args
    try:
        result = app(args=args, prog_name=program_name(), standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except EOFError:
        return 1
    except CLICK_EXCEPTION as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `hpsearch` alone: click's help
            typer.echo(exc.format_message(), err=True)  # type: ignore[attr-defined]
            return EXIT_USAGE
        for line in usage_error_lines(exc, app, args):
            typer.echo(line, err=True)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except Exception as exc:
        # Imported only now: the errors live next to torch-importing modules, and a command
        # that raised one has imported them already.
        from search.errors import USER_ERRORS

        if isinstance(exc, USER_ERRORS):
            typer.echo(f"error: {exc}", err=True)
            return EXIT_USAGE
        raise
    # Click's non-standalone mode returns the exit code of `--help` and of ctx.exit(n).
    return result if isinstance(result, int) else 0
