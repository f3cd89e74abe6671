"""What the compose and Kubernetes tests share: the study they run and the entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_study(n_trials: int) -> str:
    """A study config of ``n_trials`` trials of about a second each on one CPU thread."""
    return f"""
n_trials = {n_trials}
epochs = 1
seed = 0
[task]
data = "digits"
[pruner]
name = "nop"
[space]
cell = "gru"
hidden_size = 8
embedding_dim = 8
batch_size = 128
num_layers = 1
"""


def hpsearch_command(args: Sequence[str]) -> list[str]:
    """The image's ``hpsearch ARGS`` as a local process: this checkout's code stands in."""
    return [sys.executable, "-m", "search.cli", *args]


def checkout_pythonpath(env: dict[str, str]) -> str:
    """``PYTHONPATH`` that puts this checkout's code first, before whatever ``env`` has."""
    return os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
