"""Many workers on one study: do they search, or repeat? Budgets, best value, recovery.

For each backend and each worker count W, a new study (same config, seed and budget) is
created with ``hpsearch create`` and W real ``hpsearch worker`` processes run it to its
budget. Reported per study:

- distinct configurations / finished trials (goal 100% until the space is exhausted);
- trials finished beyond the budget (goal 0);
- the best value and the wall time, and the time each study took to reach the 1-worker
  study's best value, as ratios to the 1-worker study of the same backend in this run;
- duplicate proposals skipped and trials given back (not trained).

Then, per backend, the recovery of a ``kill -9``: two workers train long trials, one is
killed, and the time until its trial is FAIL and its parameters queued again is compared
with the documented bound, grace + one heartbeat interval (ratio; goal <= 1).

Usage:
    python bench/parallel.py                                   # sqlite,postgresql; 1,2,4
    python bench/parallel.py --workers 1,2,4 --trials 12 --epochs 1 --backends sqlite

PostgreSQL: a throwaway database on $HPSEARCH_BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fresh_storage import FreshStorage  # noqa: E402

# 3 cells x 2 directions x 3 aggregations x 2 learning rates = 36 configurations on the
# built-in digits data: small enough that workers seeded alike would collide at once.
CONFIG = """
n_trials = {trials}
epochs = {epochs}
seed = 0
[pruner]
name = "nop"
[space]
hidden_size = 16
num_layers = 1
dropout = 0.0
embedding_dim = 16
optimizer = "adam"
batch_size = 128
grad_clip = 0.0
lr = {{type = "categorical", choices = [0.003, 0.01]}}
cell = {{type = "categorical", choices = ["rnn", "gru", "lstm"]}}
bidirectional = {{type = "categorical", choices = [false, true]}}
aggregation = {{type = "categorical", choices = ["last", "mean", "max"]}}
"""


def _env(threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "search.cli", *args]


def _create(folder: Path, url: str, study: str, trials: int, epochs: int) -> None:
    (folder / "study.toml").write_text(CONFIG.format(trials=trials, epochs=epochs))
    subprocess.run(
        _cli("create", "--config", str(folder / "study.toml"), "--study", study, "--storage", url),
        env=_env(1),
        check=True,
        capture_output=True,
    )


def _workers(url: str, study: str, n: int, *extra: str) -> list[subprocess.Popen[str]]:
    threads = max(1, (os.cpu_count() or 1) // n)
    return [
        subprocess.Popen(
            _cli("worker", "--study", study, "--storage", url, *extra),
            env=_env(threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n)
    ]


def run_study(url: str, folder: Path, workers: int, trials: int, epochs: int) -> dict:
    """One study to its budget with ``workers`` processes; what it did."""
    import optuna
    from optuna.trial import TrialState

    from search._distinct import configuration_key

    name = f"w{workers}_{uuid.uuid4().hex[:6]}"
    _create(folder, url, name, trials, epochs)
    started = time.monotonic()
    processes = _workers(url, name, workers)
    outputs = [p.communicate()[0] for p in processes]
    wall = time.monotonic() - started
    if any(p.returncode for p in processes):
        raise SystemExit("a worker failed:\n" + "\n".join(outputs))
    study = optuna.load_study(study_name=name, storage=url)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    done = [
        (t.datetime_complete, float(t.values[0]))
        for t in finished
        if t.state == TrialState.COMPLETE and t.datetime_complete is not None
    ]
    first_start = min(t.datetime_start for t in study.trials if t.datetime_start is not None)
    best: float | None = None
    curve: list[tuple[float, float]] = []
    for completed, value in sorted(done):  # best value so far, seconds since the first trial
        if best is None or value > best:
            best = value
            curve.append(((completed - first_start).total_seconds(), best))
    return {
        "workers": workers,
        "finished": len(finished),
        "distinct": len({configuration_key(t.params) for t in finished}),
        "beyond_budget": len(finished) - trials,
        "duplicates_skipped": sum(1 for t in study.trials if "duplicate_of" in t.user_attrs),
        "given_back": sum(1 for t in study.trials if t.state == TrialState.WAITING),
        "best": best,
        "curve": curve,
        "wall_s": wall,
    }


def time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    """Seconds until the best value reached ``target`` (``None``: never)."""
    return next((t for t, value in curve if value >= target), None)


def measure_recovery(url: str, folder: Path, interval: int) -> dict:
    """Seconds from ``kill -9`` of one of two busy workers to its trial being re-queued."""
    import optuna
    from optuna.trial import TrialState

    name = f"kill_{uuid.uuid4().hex[:6]}"
    _create(folder, url, name, trials=4, epochs=100000)  # trials that outlast the measurement
    study = optuna.load_study(study_name=name, storage=url)
    processes = _workers(url, name, 2, "--heartbeat-interval", str(interval))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            busy = [
                t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.intermediate_values
            ]
            if len(busy) >= 2:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the two workers never trained at the same time")
        owner = next(p for p in processes if p.poll() is None)  # either: we only need one
        owner.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        while time.monotonic() - killed < 120:
            retried = [
                t
                for t in study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
                if t.system_attrs.get("failed_trial") in {b.number for b in busy}
            ]
            if retried:
                break
            time.sleep(0.1)
        seconds = time.monotonic() - killed
        other_busy = any(
            study._storage.get_trial(b._trial_id).state == TrialState.RUNNING for b in busy
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=120)
    bound = 3 * interval + interval  # run_study's grace is three intervals
    return {
        "requeue_s": seconds,
        "bound_s": bound,
        "ratio": seconds / bound,
        "other_still_training": other_busy,
    }


def main() -> None:
    """Run every backend x worker count; print JSON lines and a table with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=12, help="Budget of every study.")
    parser.add_argument("--epochs", type=int, default=1, help="Epochs per trial.")
    parser.add_argument("--heartbeat-interval", type=int, default=2)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in args.backends.split(","):
            with FreshStorage(kind, folder, ("sqlite", "postgresql")) as url:
                studies = [run_study(url, folder, w, args.trials, args.epochs) for w in counts]
                recovery = measure_recovery(url, folder, args.heartbeat_interval)
            base = studies[0]
            for study in studies:
                reached = time_to(study["curve"], base["best"])
                base_reached = time_to(base["curve"], base["best"])
                row = {
                    "backend": kind,
                    **{k: v for k, v in study.items() if k != "curve"},
                    "distinct_share": study["distinct"] / study["finished"],
                    "wall_ratio": study["wall_s"] / base["wall_s"],
                    "best_minus_1worker": study["best"] - base["best"],
                    "to_1worker_best_ratio": (
                        reached / base_reached if reached is not None and base_reached else None
                    ),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            print(json.dumps({"backend": kind, "kill9": recovery}), flush=True)
            rows.append({"backend": kind, "kill9": recovery})
    print()
    print(
        "| backend | workers | distinct/finished | beyond budget | skipped dup | "
        "best (vs 1) | wall (x 1 worker) | to 1-worker best (x) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if "kill9" in row:
            k = row["kill9"]
            print(
                f"| {row['backend']} | kill -9 | re-queued in {k['requeue_s']:.1f} s, bound "
                f"{k['bound_s']} s (x{k['ratio']:.2f}), other worker still training: "
                f"{k['other_still_training']} | | | | | |"
            )
            continue
        ratio = row["to_1worker_best_ratio"]
        shown = f"x{ratio:.2f}" if ratio is not None else "not reached"
        print(
            f"| {row['backend']} | {row['workers']} | {row['distinct']}/{row['finished']} | "
            f"{row['beyond_budget']} | {row['duplicates_skipped']} | "
            f"{row['best']:.4f} ({row['best_minus_1worker']:+.4f}) | x{row['wall_ratio']:.2f} | "
            f"{shown} |"
        )


if __name__ == "__main__":
    main()
