"""Progress and stopping as a user sees them: the running trial's epoch, and a quiet Ctrl-C."""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading

import optuna
import pytest
from cli_helpers import process_env, tiny_config

import search
from search._progress import StudyProgress

TINY = tiny_config(epochs=2)
SLOW = tiny_config(epochs=200)


class _Terminal(io.StringIO):
    """Captured output that says it is a terminal (of unknown size), so tqdm draws a bar."""

    def isatty(self) -> bool:
        return True


def test_terminal_gets_one_bar_with_the_running_trials_epoch_and_log_lines_above_it(
    monkeypatch,
):
    study = optuna.create_study(direction="maximize")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # the bar and the log handler share it
    handler = logging.StreamHandler(sys.stderr)
    logging.root.addHandler(handler)
    try:
        progress = StudyProgress(study, 4, "accuracy")
        with progress.showing():
            progress.epoch(0, 3, 15, {"accuracy": 0.8125, "loss": 0.4})
            logging.getLogger("hpsearch.test").warning("a log line between two redraws")
            study.optimize(lambda trial: 0.9, n_trials=1, callbacks=[progress])
            progress.epoch(1, 1, 15, {"accuracy": 0.5})
    finally:
        logging.root.removeHandler(handler)
    redraws = re.split(r"[\r\n]", terminal.getvalue())
    assert any("0/4" in r and "trial 0 epoch 3/15 accuracy 0.8125" in r for r in redraws)
    assert any("1/4" in r and "trial 1 epoch 1/15 accuracy 0.5000, best 0.9" in r for r in redraws)
    assert "a log line between two redraws" in redraws  # a whole line of its own
    assert any("<" in r and "trial/s" in r for r in redraws)  # tqdm's elapsed<ETA, rate


def test_elsewhere_plain_lines_one_per_epoch_and_per_trial(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    result = subprocess.run(
        [sys.executable, "-m", "search.cli", "run", "--config", "tiny.toml"],
        cwd=tmp_path,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert re.fullmatch(r"trial 0 epoch 1/2: accuracy 0\.\d{4}", lines[0]), lines
    assert re.fullmatch(r"trial 0 epoch 2/2: accuracy 0\.\d{4}", lines[1]), lines
    assert re.fullmatch(r"trial 0 complete: 1/2 trials finished, best 0\.\d+, ETA \d+s", lines[2])
    assert len(lines) == 6 and lines[5].startswith("trial 1 complete: 2/2 trials finished")
    assert "2 of 2 trials finished" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_prints_one_line_and_the_summary(tmp_path, signum):
    (tmp_path / "slow.toml").write_text(SLOW)
    run = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "run", "--config", "slow.toml"],
        cwd=tmp_path,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stderr is not None
        before = []
        for line in run.stderr:  # progress lines: the trial is training
            before.append(line)
            if line.startswith("trial 0 epoch 2/200"):
                break
        run.send_signal(signum)
        out, after = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, after
    assert "Traceback" not in after and "TrialInterrupted" not in after, after
    said = [line for line in after.splitlines() if not line.startswith("trial 0 epoch")]
    name = signal.Signals(signum).name
    assert len(said) == 1 and f"{name} received" in said[0], after
    assert f"stopped by {name}" in out and "0 of 2 trials finished" in out, out


class _SignalsItself(search.StopFlag):
    """A stop flag that, at its third check, sends this process SIGTERM."""

    def __init__(self, handler) -> None:
        super().__init__()
        self.checks = 0
        self.handler = handler
        self.handler_was_ours: list[bool] = []

    def __call__(self) -> bool:
        self.checks += 1
        self.handler_was_ours.append(signal.getsignal(signal.SIGTERM) is self.handler)
        if self.checks == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().__call__()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals")
def test_run_study_leaves_the_callers_signal_handler_alone(tmp_path):
    received = []

    def handler(signum, _frame):
        received.append(signum)
        stop.set("the caller's SIGTERM handler")

    stop = _SignalsItself(handler)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        config = search.build_config(
            {**_toml(SLOW), "storage": f"sqlite:///{tmp_path}/s.db", "device": "cpu"}
        )
        summary = search.run_study(config, progress=False, stop=stop)
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]
    assert all(stop.handler_was_ours)
    assert summary.worker.stopped_by == "the caller's SIGTERM handler"
    assert summary.counts["FAIL"] == 1  # the interrupted trial, queued again


def _toml(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)
