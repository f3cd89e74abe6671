"""Run the ``hpsearch`` console entry point in the test process, as a user's shell would."""

from __future__ import annotations

import sys

from search import cli


def hpsearch(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``hpsearch ARGS`` through ``cli.main``; return (exit code, stdout, stderr)."""
    old, sys.argv = sys.argv, ["hpsearch", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err
