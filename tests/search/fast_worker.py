"""A worker process on a fast objective (no training), for concurrency tests and benches.

Usage: python fast_worker.py STORAGE_URL STUDY_NAME N_TRIALS [SLEEP_SECONDS]
"""

from __future__ import annotations

import logging
import sys
import time

import optuna

import storage
from search import run_trials
from search._worker import StopFlag, stop_on_signals


def main() -> None:
    url, study_name, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    backend = storage.open_storage(url, heartbeat_interval=5)
    study = optuna.create_study(
        study_name=study_name,
        storage=backend,
        load_if_exists=True,
        sampler=optuna.samplers.RandomSampler(),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        time.sleep(pause)
        return x * x

    stop = StopFlag()
    with stop_on_signals(stop):
        result = run_trials(study, objective, n_trials=n_trials, stop=stop, poll_seconds=0.2)
    print(f"ran {result.trials_run} trials, stopped by {result.stopped_by}", flush=True)


if __name__ == "__main__":
    main()
