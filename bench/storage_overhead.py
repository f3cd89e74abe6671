"""Per-trial storage + sampler overhead (ask -> tell) with W worker processes.

Every worker runs a no-training objective in an ask/tell loop on one shared study until the
study holds N trials. Each trial's ask->tell time is recorded by trial number, so the
overhead early in the study (the first 1,000 trials) and late (the last 1,000 before N)
can be compared. The in-memory study, one process, is the baseline in the same run; every
line reports its ratio to it.

Usage:
    python bench/storage_overhead.py --workers 1,8,32 --trials 1000,10000
    python bench/storage_overhead.py --workers 1,4 --trials 1000 --backends postgresql,redis

Backends: ``postgresql`` (a throwaway database on $HPSEARCH_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test), ``sqlite``, ``redis`` (journal in Redis db 14
on $HPSEARCH_BENCH_REDIS, default redis://127.0.0.1:6379/14), ``journal`` (a log file).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW = 1000


def _sampler(name: str):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=None)
    return optuna.samplers.TPESampler()


def _timed_trial(study) -> tuple[int, float]:
    """One ask -> suggest -> tell on a no-training objective: (trial number, seconds)."""
    started = time.perf_counter()
    trial = study.ask()
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 1, 100)
    study.tell(trial, x * x + y)
    return trial.number, time.perf_counter() - started


def _worker(url: str, study_name: str, n_trials: int, sampler: str, out: mp.Queue) -> None:
    import optuna

    import storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=study_name, storage=storage.open_storage(url), sampler=_sampler(sampler)
    )
    timings: list[tuple[int, float]] = []
    while True:
        timings.append(_timed_trial(study))
        if timings[-1][0] >= n_trials - 1:
            break
    out.put(timings)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return p50 * 1000, p95 * 1000


def _windows(timings: list[tuple[int, float]], n_trials: int) -> dict[str, tuple[float, float]]:
    early = [t for n, t in timings if n < min(WINDOW, n_trials)]
    late = [t for n, t in timings if n >= n_trials - WINDOW]
    return {"first": _percentiles(early), "last": _percentiles(late)}


def _memory_baseline(n_trials: int, sampler: str) -> dict[str, tuple[float, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=_sampler(sampler))
    return _windows([_timed_trial(study) for _ in range(n_trials)], n_trials)


class _Backend:
    """Creates and removes a fresh storage for one measurement."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.folder = folder
        self.database: str | None = None

    def __enter__(self) -> str:
        name = uuid.uuid4().hex[:8]
        if self.kind == "postgresql":
            import psycopg

            admin = os.environ.get(
                "HPSEARCH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
            )
            self.admin = psycopg.connect(admin, autocommit=True)
            self.database = f"hpsearch_bench_{name}"
            self.admin.execute(f'CREATE DATABASE "{self.database}"')
            host = admin.split("://", 1)[1].rsplit("/", 1)[0]
            return f"postgresql+psycopg://{host}/{self.database}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder}/{name}.db"
        if self.kind == "journal":
            return f"journal://{self.folder}/{name}.log"
        if self.kind == "redis":
            import redis

            url = os.environ.get("HPSEARCH_BENCH_REDIS", "redis://127.0.0.1:6379/14")
            redis.Redis.from_url(url).flushdb()
            return url
        raise SystemExit(
            f"unknown backend {self.kind!r}; accepted: postgresql, sqlite, journal, redis"
        )

    def __exit__(self, *exc: object) -> None:
        if self.database is not None:
            self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.database,),
            )
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            self.admin.close()


def measure(kind: str, workers: int, n_trials: int, sampler: str, folder: Path):
    """Run ``workers`` processes to ``n_trials`` trials; return per-window (p50, p95) in ms."""
    import optuna

    import storage

    with _Backend(kind, folder) as url:
        study_name = f"bench-{uuid.uuid4().hex[:6]}"
        optuna.create_study(study_name=study_name, storage=storage.open_storage(url))
        queue: mp.Queue = mp.get_context("spawn").Queue()
        context = mp.get_context("spawn")
        processes = [
            context.Process(target=_worker, args=(url, study_name, n_trials, sampler, queue))
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for process in processes:
            process.start()
        timings: list[tuple[int, float]] = []
        for _ in processes:
            timings.extend(queue.get())
        for process in processes:
            process.join()
        wall = time.perf_counter() - started
    return _windows(timings, n_trials), wall, len(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--trials", default="1000,10000")
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    trials = [int(n) for n in args.trials.split(",")]
    print(f"machine: {os.cpu_count()} cores; sampler: {args.sampler}; ask->tell per trial, ms")
    print(
        f"{'backend':<11}{'W':>4}{'trials':>8}  {'window':<7}{'p50':>8}{'p95':>8}"
        f"{'x mem p50':>11}{'trials/s':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n_trials in trials:
            baseline = _memory_baseline(n_trials, args.sampler)
            for window, (p50, p95) in baseline.items():
                print(
                    f"{'memory':<11}{1:>4}{n_trials:>8}  {window:<7}{p50:>8.2f}{p95:>8.2f}"
                    f"{1.0:>11.2f}{'':>10}"
                )
            for kind in args.backends.split(","):
                for w in workers:
                    result, wall, count = measure(kind, w, n_trials, args.sampler, Path(tmp))
                    for window, (p50, p95) in result.items():
                        ratio = p50 / baseline[window][0]
                        print(
                            f"{kind:<11}{w:>4}{n_trials:>8}  {window:<7}{p50:>8.2f}{p95:>8.2f}"
                            f"{ratio:>11.2f}{count / wall:>10.1f}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
