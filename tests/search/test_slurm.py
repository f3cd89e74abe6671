"""``hpsearch slurm``: job arrays of workers on this machine's real one-node Slurm.

.ci/slurm-up brings the cluster up (.ci/run calls it). The arrays run this checkout's code:
sbatch passes the submitting environment on, and ``process_env`` puts the checkout on
PYTHONPATH. Trials are tiny (digits, an 8-unit GRU), so the time goes to process start-up.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from cli_helpers import hpsearch, hpsearch_in_process, process_env, wait_for
from optuna.trial import TrialState

from search._slurm import WorkerArray, job_name
from search._slurm_runs import SlurmRun
from storage import STALE_REASON_PREFIX

STUDY_TOML = """
n_trials = {n_trials}
epochs = {epochs}
seed = 0
[task]
data = "digits"
[pruner]
name = "nop"
[sampler]
name = "random"
[space]
cell = "gru"
hidden_size = 8
embedding_dim = 8
batch_size = 128
num_layers = 1
"""

# Generous: on a shared, overloaded 2-core machine a worker's start-up (torch, data) took
# 30-60 s and 3 workers on 6 one-epoch trials 212 s; on a quiet one it is seconds.
ARRAY_SECONDS = 400


def _slurm_is_up() -> str | None:
    """Why Slurm cannot run jobs here, or None when it can."""
    if shutil.which("sbatch") is None:
        return "Slurm is not installed (sbatch not on PATH); .ci/slurm-up installs it"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    if "UP" not in ping.stdout:
        return "slurmctld does not answer; start it with .ci/slurm-up"
    nodes = subprocess.run(
        ["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, check=False
    )
    if not any(state.startswith(("idle", "mix", "alloc")) for state in nodes.stdout.split()):
        return f"no Slurm node takes jobs (sinfo: {nodes.stdout.strip() or 'nothing'})"
    # A node can look idle while every launch on it fails (a slurmd started without stdin):
    # one real step, or each array test waits out its limit.
    try:
        step = subprocess.run(
            ["srun", "--quiet", "--ntasks=1", "--time=1", "true"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "a one-task srun did not finish in 60 s"
    if step.returncode != 0:
        return f"a one-task srun failed: {step.stderr.strip() or step.returncode}"
    return None


@pytest.fixture(scope="module")
def slurm() -> None:
    """A Slurm cluster that runs jobs: skipped without one, except in CI where it must be."""
    reason = _slurm_is_up()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: .ci/run runs .ci/slurm-up)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def jobs():
    """Job ids a test submitted; whatever is still queued at the end is cancelled."""
    submitted: list[str] = []
    yield submitted
    if submitted:
        subprocess.run(["scancel", *submitted], check=False)


@pytest.fixture(scope="module")
def time_limited_array(slurm, tmp_path_factory) -> Iterator[tuple[str, str, str, Path]]:
    """One worker with a 2-minute time limit on a study no run of 2 minutes can finish.

    Slurm checks time limits every 30 s or so and may signal that much early; 2 minutes leave
    each run time for trials after start-up. Submitted by the first test on the cluster, so
    the wait for the time limit overlaps the other tests; the time-limit test checks it.

    Yields:
        (study, storage URL, job id, folder it was submitted from).
    """
    folder = tmp_path_factory.mktemp("time-limit")
    study = f"study_{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{folder}/study.db"
    # Trials of 2 epochs took 0.08 s on a quiet machine: 400 of them ended in 40 s, before
    # the limit. 1000 of 20 epochs outlast any 2-minute run (about 0.8 s each when quiet).
    config = _config(folder, n_trials=1000, epochs=20)
    submitted: list[str] = []
    job = _submit(
        folder, submitted, study, url, "--workers", "1", "--config", str(config),
        "--time", "2", "--warning-seconds", "5",
    )  # fmt: skip
    yield study, url, job, folder
    subprocess.run(["scancel", job], check=False)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # In this process, with the environment process_env gives a child (sbatch passes it on
    # to the array): the arrays' workers are the processes under test.
    return hpsearch_in_process(*args, env=process_env(), cwd=cwd)


def _submit(tmp_path: Path, jobs: list[str], study: str, url: str, *args: str) -> str:
    done = _cli("slurm", "submit", "--study", study, "--storage", url, *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("submitted array job "), done.stdout
    job_id = line.split()[3].rstrip(":")
    jobs.append(job_id)
    return job_id


def _queued(job_id: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "--noheader", "--array", f"--jobs={job_id}", "--format=%i %T"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def _config(tmp_path: Path, n_trials: int, epochs: int) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY_TOML.format(n_trials=n_trials, epochs=epochs))
    return path


def _trials(study: str, url: str) -> list[optuna.trial.FrozenTrial]:
    import storage

    return optuna.load_study(study_name=study, storage=storage.open_storage(url)).get_trials()


def _assert_nothing_lost_or_repeated(trials: list[optuna.trial.FrozenTrial]) -> None:
    """Every failed trial was interrupted (at an epoch boundary, or killed before one and
    found stale) and queued again exactly once, with its params; none stayed RUNNING."""
    by_number = {t.number: t for t in trials}
    copies: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for trial in trials:
        if "requeued_from" in trial.user_attrs:
            copies.setdefault(trial.user_attrs["requeued_from"], []).append(trial)
    for trial in trials:
        if trial.state == TrialState.FAIL:
            reason = trial.user_attrs.get("fail_reason", "")
            assert reason == "interrupted" or reason.startswith(STALE_REASON_PREFIX), reason
            assert len(copies.get(trial.number, [])) == 1, f"trial {trial.number} re-queued"
            (copy,) = copies[trial.number]
            # A copy that has not run yet holds its parameters as Optuna's fixed_params.
            assert (copy.params or copy.system_attrs["fixed_params"]) == trial.params
    assert set(copies) <= set(by_number)
    assert not [t for t in trials if t.state == TrialState.RUNNING]


# --- the script, without a cluster -------------------------------------------------------


def test_dry_run_prints_the_script_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/s.db"
    code, out, err = hpsearch(
        capsys, "slurm", "submit", "--study", "big", "--storage", url, "--workers", "4",
        "--gpus-per-worker", "2", "--partition", "gpu", "--time", "04:00:00",
        "--account", "lab", "--sbatch-option", "--qos=high", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "#!/bin/bash"
    for directive in (
        "--array=0-3", "--gres=gpu:2", "--requeue", "--signal=B:USR1@120",
        "--partition=gpu", "--time=04:00:00", "--account=lab", "--qos=high",
        f"--job-name={job_name('big')}",
    ):  # fmt: skip
        assert f"#SBATCH {directive}" in lines, directive
    assert lines.index("#SBATCH --qos=high") > lines.index("#SBATCH --time=04:00:00")
    command = f"{sys.executable} -m search.cli worker --study big --storage {url} --device cuda"
    assert f"{command} &" in lines
    assert not (tmp_path / "hpsearch-slurm").exists() and not (tmp_path / "s.db").exists()


def test_the_script_goes_next_to_a_file_storage():
    array = WorkerArray(study="a b", storage_url="journal:///shared/x/study.log", workers=1)
    assert array.folder == Path("/shared/x/hpsearch-slurm/a_b")
    assert "--device cpu" in array.script()
    assert "--gres" not in array.script()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workers", "0"], "error: --workers must be at least 1, but got 0"),
        (["--gpus-per-worker", "-1"], "error: --gpus-per-worker must be 0 (CPU) or more"),
        (["--time", "soon"], "error: --time 'soon' is not a Slurm time"),
        (["--sbatch-option", "qos=high"], "error: --sbatch-option 'qos=high' is not an"),
        (
            ["--storage", "postgresql+psycopg://me:hunter2@db/hp"],
            "error: storage URL 'postgresql+psycopg://me:***@db/hp' holds a password",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, expected):
    code, out, err = hpsearch(capsys, "slurm", "submit", "--dry-run", *args)
    assert code == 2 and out == ""
    assert err.startswith(expected) and len(err.strip().splitlines()) == 1, err
    assert "hunter2" not in err


def test_submit_without_sbatch_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without sbatch
    url = f"sqlite:///{tmp_path}/s.db"
    code, _, err = hpsearch(capsys, "slurm", "submit", "--storage", url, "--workers", "2")
    assert code == 2
    assert err.startswith("error: sbatch is not installed or not on PATH")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists()  # refused before the storage was touched


# --- a task's earlier run, killed mid-trial, without a cluster -------------------------


def _slurm_env(restart_count: int) -> dict[str, str]:
    """What Slurm sets for run ``restart_count`` of array task 41_0 (job 42)."""
    return {
        "SLURM_CLUSTER_NAME": "test", "SLURM_JOB_ID": "42", "SLURM_ARRAY_JOB_ID": "41",
        "SLURM_ARRAY_TASK_ID": "0", "SLURM_PROCID": "0",
        "SLURM_RESTART_COUNT": str(restart_count),
    }  # fmt: skip


@pytest.mark.timeout(900)
def test_a_trial_its_task_killed_is_queued_again_by_the_next_run(tmp_path, storage_url, study_name):
    """SIGKILL (KillWait over, the OOM killer) leaves a trial RUNNING; on a journal nothing
    else ever fails it, and the task's next run waited for it forever as part of the budget."""
    # A trial of this tiny model takes a few seconds at 60 epochs: killed in its first
    # sixth, it cannot have finished between the poll that saw it and the kill.
    epochs = 60
    config = _config(tmp_path, n_trials=2, epochs=epochs)
    command = [
        sys.executable, "-m", "search.cli", "worker", "--study", study_name, "--storage",
        storage_url, "--config", str(config), "--device", "cpu",
    ]  # fmt: skip
    first = subprocess.Popen(
        command, cwd=tmp_path, env=process_env(**_slurm_env(0)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def mid_trial() -> optuna.trial.FrozenTrial | None:
            try:
                trials = _trials(study_name, storage_url)
            except KeyError:  # the study is not created yet
                return None
            running = [t for t in trials if t.state == TrialState.RUNNING]
            early = [t for t in running if 0 < len(t.intermediate_values) <= epochs // 6]
            return early[0] if early else None

        victim = wait_for(mid_trial, 400, "a trial in the middle of training", poll=0.1)
        first.kill()
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    killed = {t.number: t for t in _trials(study_name, storage_url)}[victim.number]
    assert killed.state == TrialState.RUNNING  # killed before it finished
    second = subprocess.run(
        command, cwd=tmp_path, env=process_env(**_slurm_env(1)),
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "stopped by budget" in second.stdout
    trials = _trials(study_name, storage_url)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 2, states
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.number == victim.number
    assert "run 0 of Slurm task 41_0" in failed.user_attrs["fail_reason"]
    _assert_nothing_lost_or_repeated(trials)
    (copy,) = [t for t in trials if t.user_attrs.get("requeued_from") == victim.number]
    assert copy.state == TrialState.COMPLETE and copy.params == victim.params


def test_only_the_same_tasks_earlier_runs_are_failed(tmp_path):
    """Another task's trial, or one of this run's other workers, is alive: never repeated."""
    import storage

    study = optuna.create_study(storage=storage.open_storage(f"journal://{tmp_path}/s.log"))
    task = SlurmRun.from_environment(_slurm_env(0))
    assert task == SlurmRun("test/42.0", 0, "41_0")
    other_task = SlurmRun.from_environment({**_slurm_env(0), "SLURM_JOB_ID": "43"})
    assert other_task is not None
    owners = [task, other_task, dataclasses.replace(task, run=1), None]
    for owner in owners:
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        if owner is not None:
            owner.record(study, trial._trial_id)
    next_run = dataclasses.replace(task, run=1)
    assert [t.number for t in next_run.fail_earlier_runs(study)] == [0]
    assert next_run.fail_earlier_runs(study) == []  # a second worker of the run: none left
    assert [t.state for t in study.trials] == [TrialState.FAIL] + [TrialState.RUNNING] * 3
    assert study.trials[0].user_attrs["fail_reason"].startswith(STALE_REASON_PREFIX)
    assert SlurmRun.from_environment({}) is None  # not in a Slurm job: nothing recorded


# --- on the real cluster -----------------------------------------------------------------


def test_sbatch_test_only_accepts_the_dry_run_script(
    slurm, time_limited_array, capsys, tmp_path
):  # time_limited_array: submitted now, checked by the last test
    url = f"sqlite:///{tmp_path}/s.db"
    code, out, err = hpsearch(
        capsys, "slurm", "submit", "--study", "s", "--storage", url, "--workers", "3",
        "--time", "00:10:00", "--sbatch-option", "--mem=100M", "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    script = tmp_path / "workers.sbatch"
    script.write_text(out)
    test = subprocess.run(
        ["sbatch", "--test-only", str(script)], capture_output=True, text=True, check=False
    )
    assert test.returncode == 0, test.stderr
    assert "to start at" in test.stderr


# No cluster needed, but placed after the first test on it: this worker runs while the
# time-limited array (submitted by that test) waits for its limit.
def test_sigusr1_stops_a_worker_like_sigterm(tmp_path, study_name):
    """Slurm's early warning: left to its default, SIGUSR1 would kill the worker mid-trial."""
    import signal

    url = f"sqlite:///{tmp_path}/s.db"
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fast_worker.py")), url, study_name,
         "1000", "0.3"],
        env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def two_trials() -> bool:
            try:
                return len(_trials(study_name, url)) >= 2
            except KeyError:  # the study is not created yet
                return False

        wait_for(two_trials, 120, "the worker's first trials", poll=0.3)
        worker.send_signal(signal.SIGUSR1)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "stopped by SIGUSR1" in out
    assert len(_trials(study_name, url)) < 1000


def test_an_unknown_partition_is_slurms_message_in_one_line(
    slurm, capsys, tmp_path, monkeypatch, study_name
):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/s.db"
    config = _config(tmp_path, 2, 1)
    code, out, err = hpsearch(
        capsys, "slurm", "submit", "--study", study_name, "--storage", url, "--config",
        str(config), "--partition", "nosuchpartition",
    )  # fmt: skip
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: sbatch refused: invalid partition"), err
    assert "nosuchpartition" in err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_workers_reach_the_budget_exactly(slurm, jobs, tmp_path, postgres_url, study_name):
    config = _config(tmp_path, n_trials=6, epochs=1)
    job = _submit(
        tmp_path, jobs, study_name, postgres_url, "--workers", "3", "--config", str(config)
    )
    assert (
        tmp_path / "hpsearch-slurm" / study_name / f"{job_name(study_name)}-{job}.sbatch"
    ).is_file()
    status = _cli("slurm", "status", "--study", study_name, "--storage", postgres_url, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"study {study_name!r}:" in status.stdout and "(budget 6)" in status.stdout
    wait_for(lambda: not _queued(job), ARRAY_SECONDS, "the array to finish", poll=0.3)
    trials = _trials(study_name, postgres_url)
    states = [t.state for t in trials]
    # Exactly the budget: depends on issue 11 (N workers on a budget finish exactly N).
    assert states.count(TrialState.COMPLETE) == 6, states
    assert TrialState.RUNNING not in states
    logs = sorted((tmp_path / "hpsearch-slurm" / study_name).glob("*.out"))
    assert len(logs) == 3
    assert all("stopped by budget" in log.read_text() for log in logs)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_requeued_task_resumes_and_nothing_is_lost_or_repeated(slurm, jobs, tmp_path, study_name):
    url = f"journal://{tmp_path}/study.log"  # a journal file, as on a cluster without a DB
    # Epochs of this tiny model take ~0.07 s on a quiet machine: with 8, and even with 40, a
    # trial could end between the poll that saw it running and the requeue's SIGTERM (seen:
    # two COMPLETE, nothing interrupted; then a task stuck on the next trial). 200 epochs and
    # a requeue in the first tenth of them leave seconds to spare.
    epochs = 200
    config = _config(tmp_path, n_trials=2, epochs=epochs)
    job = _submit(tmp_path, jobs, study_name, url, "--workers", "1", "--config", str(config))

    def mid_trial() -> bool:
        return any(
            t.state == TrialState.RUNNING and 0 < len(t.intermediate_values) <= epochs // 10
            for t in _trials(study_name, url)
        )

    wait_for(mid_trial, ARRAY_SECONDS, "a trial in its first epochs", poll=0.3)
    subprocess.run(["scontrol", "requeue", f"{job}_0"], check=True)
    wait_for(lambda: not _queued(job), ARRAY_SECONDS, "the requeued task to finish", poll=0.3)

    trials = _trials(study_name, url)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 2, states
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 1, states
    _assert_nothing_lost_or_repeated(trials)
    copy = next(t for t in trials if t.user_attrs.get("requeued_from") == interrupted[0].number)
    assert copy.state == TrialState.COMPLETE
    log = next((tmp_path / "hpsearch-slurm" / study_name).glob("*.out")).read_text()
    assert f"task {job}_0" in log and " run 1 " in log  # the task came back


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_time_limit_requeues_the_task_and_cancel_leaves_nothing_running(time_limited_array):
    study, url, job, folder = time_limited_array
    log_path = folder / "hpsearch-slurm" / study / f"{job_name(study)}-{job}_0.out"

    def log() -> str:
        return log_path.read_text() if log_path.exists() else ""

    wait_for(
        lambda: "requeueing this task" in log(), ARRAY_SECONDS, "the time limit's SIGUSR1", poll=0.3
    )
    finished_first_run = len([t for t in _trials(study, url) if t.state == TrialState.COMPLETE])
    assert finished_first_run >= 1

    def finished_in_second_run() -> bool:
        done = [t for t in _trials(study, url) if t.state == TrialState.COMPLETE]
        return " run 1 " in log() and len(done) > finished_first_run

    wait_for(finished_in_second_run, ARRAY_SECONDS, "trials in the task's second run", poll=0.3)

    status = _cli("slurm", "status", "--study", study, "--storage", url, cwd=folder)
    assert status.returncode == 0, status.stderr
    # Running, or pending between two runs when a time limit has just passed again.
    assert re.search(rf"^{job}_0 +(RUNNING|PENDING) ", status.stdout, re.M), status.stdout
    cancel = _cli("slurm", "cancel", "--study", study, "--storage", url, cwd=folder)
    assert cancel.returncode == 0, cancel.stderr
    assert f"cancelled array {job}" in cancel.stdout
    assert not _queued(job)
    trials = _trials(study, url)
    _assert_nothing_lost_or_repeated(trials)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # Each interrupted trial whose copy has not run yet waits in the queue for the next run.
    assert {t.user_attrs["requeued_from"] for t in waiting} <= {t.number for t in failed}
