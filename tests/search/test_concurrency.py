"""Many real worker processes on one PostgreSQL study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from cli_helpers import process_env
from optuna.trial import TrialState

from search._worker import BEYOND_BUDGET_REASON

WORKER = Path(__file__).with_name("fast_worker.py")


@pytest.mark.timeout(900)  # 8 processes on 2 shared cores
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
    assert len(numbers) == len(set(numbers))  # unique
    # Every trial run is stored; a trial drawn beyond the budget was failed unrun, and
    # nothing is left queued in a study at its budget.
    beyond = [t for t in trials if t.user_attrs.get("fail_reason") == BEYOND_BUDGET_REASON]
    assert all(t.state == TrialState.FAIL and not t.params for t in beyond)
    assert len(trials) - len(beyond) == ran
    assert not [t for t in trials if t.state == TrialState.WAITING]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 400  # the budget exactly, not 400 + workers - 1
    assert all(
        t.value == t.params["x"] * t.params["x"] for t in complete
    )  # every told value stored, as computed
    assert not [t for t in trials if t.state == TrialState.RUNNING]
