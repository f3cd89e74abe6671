"""Many real worker processes on one PostgreSQL study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
from cli_helpers import process_env
from optuna.trial import TrialState

WORKER = Path(__file__).with_name("fast_worker.py")


def test_eight_workers_reach_400_trials_without_losing_or_duplicating(postgres_url, study_name):
    optuna.create_study(study_name=study_name, storage=postgres_url)  # created once, up front
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), postgres_url, study_name, "400"],
            env=process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * 8, outputs
    ran = sum(int(out.split("ran ")[1].split()[0]) for out in outputs)
    trials = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == ran  # unique, and every trial run is stored
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert 400 <= len(complete) <= 400 + 8  # budget not overshot by more than the workers
    assert all(
        t.value == t.params["x"] * t.params["x"] for t in complete
    )  # every told value stored, as computed
    assert not [t for t in trials if t.state == TrialState.RUNNING]
