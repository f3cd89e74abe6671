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


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a test's child process: this checkout's code, one torch thread each.

    One thread per process keeps several workers on a 2-core machine from thrashing.
    """
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
