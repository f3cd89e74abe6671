"""Many real worker processes on one study: distinct configurations, exact budgets, recovery."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import optuna
import pytest
from cli_helpers import hpsearch, process_env, wait_for
from optuna.trial import TrialState

from search._distinct import configuration_key

FIXED = """
[pruner]
name = "nop"
[space]
hidden_size = 8
num_layers = 1
dropout = 0.0
embedding_dim = 8
optimizer = "adam"
lr = 0.01
batch_size = 128
grad_clip = 0.0
cell = {type = "categorical", choices = ["rnn", "gru", "lstm"]}
bidirectional = {type = "categorical", choices = [false, true]}
"""

# 3 x 2 x 3 = 18 configurations: with one seed for everyone, 4 workers repeat each other.
EIGHTEEN = (
    "n_trials = 16\nepochs = 1\n"
    + FIXED
    + ('aggregation = {type = "categorical", choices = ["last", "mean", "max"]}\n')
)
SIX = "n_trials = 10\nepochs = 1\n" + FIXED + 'aggregation = "last"\n'
LONG = "n_trials = 4\nepochs = 5000\n" + FIXED + 'aggregation = "last"\n'


def _worker(tmp_path, url, study, *extra, output=subprocess.PIPE):
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", "worker", "--study", study, "--storage", url, *extra],
        cwd=tmp_path,
        env=process_env(),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _create(capsys, tmp_path, url, study, config_text):
    # In this process: the workers are the processes under test, and a child process only to
    # create the study would pay a torch import (minutes on a loaded 2-core machine).
    (tmp_path / "study.toml").write_text(config_text)
    config = str(tmp_path / "study.toml")
    code, _, err = hpsearch(
        capsys, "create", "--config", config, "--study", study, "--storage", url
    )
    assert code == 0, err


def _finished(study):
    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


@pytest.mark.timeout(900)
def test_four_workers_finish_exactly_the_budget_with_distinct_configurations(
    capsys, tmp_path, rdb_url, study_name
):
    _create(capsys, tmp_path, rdb_url, study_name, EIGHTEEN)
    workers = [_worker(tmp_path, rdb_url, study_name) for _ in range(4)]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * 4, outputs
    study = optuna.load_study(study_name=study_name, storage=rdb_url)
    finished = _finished(study)
    assert len(finished) == 16  # not 16 + workers - 1
    assert len({configuration_key(t.params) for t in finished}) == 16
    assert not study.get_trials(states=(TrialState.RUNNING,))
    ran = sum(int(out.split("this run: ")[1].split()[0]) for out in outputs)
    states = [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials]
    # Every trained trial is one of the 16: nothing trained twice.
    assert ran == 16, (states, outputs)
    avoided = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    reported = sum(
        int(out.split("not trained: ")[1].split()[0]) for out in outputs if "not trained" in out
    )
    assert reported == len(avoided)  # each worker's summary counts what it skipped


@pytest.mark.timeout(900)
def test_an_exhausted_space_stops_both_workers_with_a_clear_message(
    capsys, tmp_path, rdb_url, study_name
):
    _create(capsys, tmp_path, rdb_url, study_name, SIX)
    workers = [_worker(tmp_path, rdb_url, study_name) for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name=study_name, storage=rdb_url)
    finished = _finished(study)
    assert len(finished) == 6
    assert len({configuration_key(t.params) for t in finished}) == 6
    for output in outputs:
        assert "stopped by search space exhausted: all 6 configurations have been tried" in output


@pytest.mark.timeout(900)
def test_a_killed_workers_trial_is_requeued_while_the_other_is_busy(
    capsys, tmp_path, rdb_url, study_name
):
    _create(capsys, tmp_path, rdb_url, study_name, LONG)
    interval, grace = 2, 6  # run_study's grace is three intervals
    study = optuna.load_study(study_name=study_name, storage=rdb_url)

    def training(exclude=()):
        # A reported epoch: the objective is past every check and training (attributes are
        # written only at a trial's end).
        running = study.get_trials(states=(TrialState.RUNNING,))
        return next(
            (t for t in running if t.intermediate_values and t.number not in exclude),
            None,
        )

    beat = ("--heartbeat-interval", str(interval))
    victim_worker = _worker(tmp_path, rdb_url, study_name, *beat, output=subprocess.DEVNULL)
    survivor = None
    try:
        victim = wait_for(training, 400, "the first worker to train", poll=0.1)
        survivor = _worker(tmp_path, rdb_url, study_name, *beat, output=subprocess.DEVNULL)
        busy = wait_for(
            lambda: training({victim.number}), 400, "the second worker to train", poll=0.1
        )
        victim_worker.send_signal(signal.SIGKILL)
        victim_worker.wait(timeout=10)
        killed = time.monotonic()

        def requeued():
            trial = study._storage.get_trial(victim._trial_id)
            retries = [
                t
                for t in study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
                if t.system_attrs.get("failed_trial") == victim.number
            ]
            return trial.state == TrialState.FAIL and retries

        wait_for(requeued, 60, "the dead worker's trial to be re-queued", poll=0.1)
        elapsed = time.monotonic() - killed
        # The survivor is still in its own long trial: it did not have to finish it first.
        assert study._storage.get_trial(busy._trial_id).state == TrialState.RUNNING
        # grace + one interval, plus slack for a loaded 2-core machine.
        assert elapsed <= grace + interval + 6, elapsed
    finally:
        for process in (victim_worker, survivor):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.mark.timeout(600)
def test_launch_exits_non_zero_when_its_workers_fail_and_removes_the_study_it_made(tmp_path):
    (tmp_path / "six.toml").write_text(SIX)
    url = f"sqlite:///{tmp_path}/l.db"
    result = subprocess.run(
        [sys.executable, "-m", "search.cli", "launch", "--study", "l", "--storage", url]
        + ["--config", "six.toml", "--workers", "2"],
        cwd=tmp_path,
        env=process_env(HPSEARCH_DEVICE="cuda"),  # no GPU here: every worker stops on it
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "worker 0 stopped on an error" in result.stdout
    assert "removed study 'l'" in result.stderr
    assert optuna.get_all_study_summaries(url) == []


def test_worker_on_a_missing_study_creates_nothing(tmp_path, capsys, postgres_url, study_name):
    url = f"sqlite:///{tmp_path}/none.db"
    code, _, err = hpsearch(capsys, "worker", "--study", "nosuch", "--storage", url)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: study 'nosuch' does not exist in {url} (no such file); pass --create or "
        "--config to create it"
    ]
    assert not (tmp_path / "none.db").exists()
    optuna.create_study(study_name=study_name, storage=postgres_url)
    code, _, err = hpsearch(capsys, "worker", "--study", "nosuch", "--storage", postgres_url)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "study 'nosuch' does not exist" in err and study_name in err
    assert "nosuch" not in {s.study_name for s in optuna.get_all_study_summaries(postgres_url)}
