"""Run the ``hpsearch`` console entry point in the test process, as a user's shell would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

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


def tiny_config(*, n_trials: int = 2, epochs: int = 1) -> str:
    """A config whose trials train in about a second: small GRUs on the built-in digits."""
    return f"""
n_trials = {n_trials}
epochs = {epochs}
[pruner]
name = "nop"
[space]
hidden_size = 8
embedding_dim = 8
batch_size = 128
num_layers = 1
"""


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a test's child process: this checkout's code, one torch thread each.

    One thread per process keeps several workers on a 2-core machine from thrashing.
    """
    import os

    root = Path(__file__).resolve().parents[2]
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def hpsearch_in_process(
    *args: str, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``hpsearch ARGS`` through ``cli.main`` as a child process of ``cwd`` and ``env``.

    For the commands around the processes a test is about: a child process pays a torch
    import first (tens of seconds on a loaded 2-core machine). ``env`` is the whole
    environment during the call, so what a child would inherit (sbatch passes it on) is the
    same. Returns what ``subprocess.run(..., capture_output=True, text=True)`` would.
    """
    import contextlib
    import io
    import os

    import pytest

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        for key in set(os.environ) - set(env):
            patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        patch.setattr(sys, "argv", ["hpsearch", *args])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
    return subprocess.CompletedProcess(["hpsearch", *args], code, out.getvalue(), err.getvalue())


def wait_for(predicate, seconds: float, what: str, poll: float = 0.2):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def train_study(folder: Path, toml: str, *, enqueue_baseline: bool = False) -> Path:
    """Run the study of config ``toml`` (``study = "s"``) in ``folder``'s ``hp.db``."""
    from search import load_config, run_study

    (folder / "tiny.toml").write_text(toml)
    config = load_config(folder / "tiny.toml", storage=f"sqlite:///{folder / 'hp.db'}")
    run_study(config, progress=False, enqueue_baseline_trial=enqueue_baseline)
    return folder


def copy_of_study(trained: Path, tmp_path: Path, monkeypatch) -> str:
    """A copy of :func:`train_study`'s folder (database and models) as the working folder,
    for one test to change; returns its storage URL."""
    shutil.copytree(trained, tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "copy")
    return "sqlite:///hp.db"
