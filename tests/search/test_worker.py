"""The worker loop against real processes: budgets, signals and failures."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import optuna
import pytest
import torch
from cli_helpers import hpsearch, process_env, wait_for
from optuna.trial import TrialState

from search import StopFlag, run_trials
from search._worker import TrialOutOfMemory, guard_out_of_memory

SLOW = """
n_trials = 4
epochs = 60
[pruner]
name = "nop"
[space]
hidden_size = 8
embedding_dim = 8
num_layers = 1
batch_size = 128
"""

FAST = """
n_trials = 6
epochs = 1
[pruner]
name = "nop"
[space]
hidden_size = 8
embedding_dim = 8
num_layers = 1
batch_size = 128
"""


def test_out_of_memory_fails_only_that_trial():
    calls = {"n": 0}

    def objective(trial):
        calls["n"] += 1
        trial.suggest_float("x", 0, 1)
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return 1.0

    study = optuna.create_study()
    result = run_trials(
        study, guard_out_of_memory(objective), n_trials=2, catch=(TrialOutOfMemory,)
    )
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert (
        study.trials[0]
        .user_attrs["fail_reason"]
        .startswith("CUDA out of memory: CUDA out of memory. Tried")
    )
    assert result.trials_run == 3


def test_budget_counts_the_whole_study_not_the_worker():
    study = optuna.create_study()
    for _ in range(3):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    result = run_trials(study, lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    assert result.trials_run == 2 and len(study.trials) == 5


def test_a_set_stop_flag_starts_no_trial():
    stop = StopFlag()
    stop.set("SIGTERM")
    study = optuna.create_study()
    result = run_trials(study, lambda t: 0.0, n_trials=5, stop=stop)
    assert result.stopped_by == "SIGTERM" and study.trials == []


@pytest.mark.timeout(900)  # waits sized for a loaded machine (see below)
def test_sigterm_stops_a_worker_at_an_epoch_boundary_and_requeues_its_trial(
    tmp_path, rdb_url, study_name
):
    (tmp_path / "slow.toml").write_text(SLOW)
    url = rdb_url
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "search.cli",
            "worker",
            "--study",
            study_name,
            "--storage",
            url,
            "--config",
            "slow.toml",
        ],
        cwd=tmp_path,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def running_with_epochs():
            try:
                study = optuna.load_study(study_name=study_name, storage=url)
            except KeyError:
                return None
            running = study.get_trials(states=(TrialState.RUNNING,))
            return running and len(running[0].intermediate_values) >= 2

        wait_for(running_with_epochs, 400, "a trial to run two epochs")
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "stopped by SIGTERM" in output
    trials = optuna.load_study(study_name=study_name, storage=url).trials
    interrupted = trials[0]
    assert interrupted.state == TrialState.FAIL
    assert interrupted.user_attrs["fail_reason"] == "interrupted"
    assert 2 <= interrupted.user_attrs["epochs_run"] < 60
    queued = trials[1]
    assert queued.state == TrialState.WAITING
    assert queued.system_attrs["fixed_params"] == interrupted.params
    assert not [t for t in trials if t.state == TrialState.RUNNING]


# A second SIGTERM at each line the handling of one runs (inside its locks, if it takes
# any), 300 in all: Slurm signals the worker and its batch shell, which forwards it, so two
# arrive at once, and a handler runs again inside itself. One that set a threading.Event
# there hung the worker for good (it never reached its log line; the trial stayed RUNNING).
NESTED_SIGNALS = """
import logging, os, signal, sys, time
from search._worker import StopFlag, stop_on_signals

logging.basicConfig(level=logging.WARNING, format="%(message)s")
injected = 0

def inject(frame, event, arg):
    global injected
    if event == "line" and injected < 300:
        injected += 1
        os.kill(os.getpid(), signal.SIGTERM)
    return inject

def step():
    return None

flag = StopFlag()
with stop_on_signals(flag):
    sys.settrace(inject)
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        step()
    sys.settrace(None)
print(f"stopped by {flag.signal_name} after {injected} more signals", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_arriving_while_the_last_one_is_handled_neither_hangs_nor_raises():
    child = subprocess.Popen(
        [sys.executable, "-c", NESTED_SIGNALS],
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()  # SIGKILL: a hung handler ignores SIGTERM
            child.communicate()
            pytest.fail("the process hung in its SIGTERM handler")
    assert child.returncode == 0, err
    assert out.strip() == "stopped by SIGTERM after 300 more signals"
    assert err.splitlines() == ["SIGTERM received: finishing at the next epoch boundary"], err


def test_launch_runs_cpu_workers_to_exactly_the_study_budget(tmp_path):
    (tmp_path / "fast.toml").write_text(FAST)
    url = f"sqlite:///{tmp_path}/l.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "search.cli",
            "launch",
            "--study",
            "l",
            "--storage",
            url,
            "--config",
            "fast.toml",
            "--workers",
            "2",
        ],
        cwd=tmp_path,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="l", storage=url)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6  # exactly: a trial drawn beyond the budget is not run
    assert "[l] " in result.stdout and "workers alive 0/2" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "a,b"], "--gpus 'a,b' is not accepted; accepted: comma-separated GPU indices"),
        (["--mps"], "--mps needs --gpus"),
        (["--workers", "0"], "worker counts must be at least 1"),
    ],
)
def test_launch_rejects_bad_options(capsys, tmp_path, args, message):
    url = f"sqlite:///{tmp_path}/x.db"
    code, _, err = hpsearch(capsys, "launch", "--storage", url, *args)
    assert code == 2 and message in err
    assert not (tmp_path / "x.db").exists()  # nothing created for a bad command


CRASH = """
n_trials = 2
epochs = 12
[pruner]
name = "nop"
[space]
hidden_size = 8
embedding_dim = 8
num_layers = 1
batch_size = 64
"""


@pytest.mark.timeout(900)  # waits sized for a loaded machine (see below)
def test_a_killed_workers_trial_fails_is_retried_and_the_budget_is_exact(
    tmp_path, rdb_url, study_name
):
    (tmp_path / "crash.toml").write_text(CRASH)
    url = rdb_url
    command = [
        sys.executable,
        "-m",
        "search.cli",
        "worker",
        "--study",
        study_name,
        "--storage",
        url,
        "--config",
        "crash.toml",
        "--heartbeat-interval",
        "1",
    ]
    first = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def mid_trial():
            try:
                study = optuna.load_study(study_name=study_name, storage=url)
            except KeyError:
                return None
            running = study.get_trials(states=(TrialState.RUNNING,))
            return running and len(running[0].intermediate_values) >= 1 and running[0]

        victim = wait_for(mid_trial, 400, "a trial in the middle of training")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = time.monotonic()
    second = subprocess.run(
        command, cwd=tmp_path, env=process_env(), capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    study = optuna.load_study(study_name=study_name, storage=url)
    by_number = {t.number: t for t in study.trials}
    dead = by_number[victim.number]
    assert dead.state == TrialState.FAIL  # failed by the heartbeat, not left RUNNING
    assert dead.datetime_complete is not None
    # Optuna's RetryHeartbeatStaleTrialCallback queued the same parameters again.
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 2
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    # Recovered promptly: a fresh worker's start-up (torch, data) plus grace and one trial,
    # with room for a loaded 2-core machine.
    assert time.monotonic() - killed_at < 240
