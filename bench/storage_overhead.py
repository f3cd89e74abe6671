"""Per-trial storage + sampler overhead (ask -> tell) with W worker processes.

Every worker runs a no-training objective in an ask/tell loop on one shared study until the
study holds N trials. Each trial's ask->tell time is recorded by trial number, so the
overhead early in the study (the first tenth of the trials, 1,000 at most) and late (the
last tenth before N) can be compared. The in-memory study, one process, is the baseline
in the same run; every line reports its ratio to it.

Usage:
    python bench/storage_overhead.py --workers 1,8,32 --trials 1000,10000
    python bench/storage_overhead.py --workers 1,4 --trials 1000 --backends postgresql,redis
    python bench/storage_overhead.py --workers 1 --trials 300,1000 --backends sqlite \
        --sampler random --checkpoints old,new    # checkpoint pruning's reads as n grows
    python bench/storage_overhead.py --trials 1000,10000 --backends sqlite --sampler random \
        --checkpoints old,new --budget old,new --prefill 100   # bookkeeping, 1k -> 10k

Backends: ``postgresql`` (a throwaway database on $HPSEARCH_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test), ``sqlite``, ``redis`` (journal in Redis db 14
on $HPSEARCH_BENCH_REDIS, default redis://127.0.0.1:6379/14), ``journal`` (a log file).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fresh_storage import FreshStorage  # noqa: E402

WINDOW = 1000  # trials per window at most; a tenth of the study when that is smaller


def _window(n_trials: int) -> int:
    """Trials in the "first" and "last" windows: never overlapping (at 1,000 trials: 100)."""
    return max(1, min(WINDOW, n_trials // 10))


def _sampler(name: str):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=None)
    return optuna.samplers.TPESampler()


def _timed_trial(study, checkpoints=None, budget: str = "none") -> tuple[int, float, float, float]:
    """One ask -> suggest -> tell on a no-training objective.

    With ``checkpoints`` (a :class:`search._checkpoints.CheckpointStore`, or the old
    re-reading prune), each trial also saves a tiny checkpoint and the store keeps the best
    three, as a worker does after every trial. With ``budget`` ``new`` (the worker's
    ``COUNT`` queries) or ``old`` (every trial read to count them), each trial also makes
    the worker's budget checks: the state counts before asking, the trials ahead after.

    Returns:
        ``(trial number, seconds in all, seconds of the budget checks, seconds of prune)``.
    """
    started = time.perf_counter()
    budget_seconds = _budget_check(study, None, budget)
    trial = study.ask()
    budget_seconds += _budget_check(study, trial, budget)
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 1, 100)
    if checkpoints is not None:
        checkpoints.save(trial, {"x": x})
    study.tell(trial, x * x + y)
    prune_seconds = 0.0
    if checkpoints is not None:
        pruning = time.perf_counter()
        checkpoints.prune(study)
        prune_seconds = time.perf_counter() - pruning
    return trial.number, time.perf_counter() - started, budget_seconds, prune_seconds


def _budget_check(study, trial, budget: str) -> float:
    """Seconds of one of the worker's budget checks (before asking when ``trial`` is None)."""
    if budget == "none":
        return 0.0
    import collections

    import storage

    started = time.perf_counter()
    if budget == "new":
        if trial is None:
            storage.count_trial_states(study._storage, study._study_id)
        else:
            frozen = study._storage.get_trial(trial._trial_id)
            storage.count_trials_ahead(study._storage, study._study_id, frozen)
    else:  # before issue 18: every trial read, then counted in Python
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        collections.Counter(t.state.name for t in trials)
    return time.perf_counter() - started


def _checkpoint_store(kind: str, folder: Path):
    """``new``: the project's store; ``old``: the same with the prune that re-read the study."""
    import contextlib

    import optuna
    from optuna.artifacts import get_all_artifact_meta
    from optuna.artifacts.exceptions import ArtifactNotFound

    from search._checkpoints import CHECKPOINT_ATTR, CheckpointStore

    class RereadingStore(CheckpointStore):
        def prune(self, study: optuna.Study) -> None:  # the store before issue 18
            completed = [
                t
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if CHECKPOINT_ATTR in t.user_attrs
            ]
            sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
            ranked = sorted(completed, key=lambda t: sign * float(t.value or 0.0), reverse=True)
            keep = {t.number for t in ranked[: self.keep]}
            for trial in completed:
                if trial.number in keep:
                    continue
                for meta in get_all_artifact_meta(trial, storage=study._storage):
                    with contextlib.suppress(ArtifactNotFound):
                        self.store.remove(meta.artifact_id)

    from optuna.trial import TrialState

    directory = folder / f"artifacts-{uuid.uuid4().hex[:6]}"
    return (RereadingStore if kind == "old" else CheckpointStore)(directory, keep=3)


def _worker(
    url: str,
    study_name: str,
    n_trials: int,
    sampler: str,
    out: mp.Queue,
    checkpoints: str,
    budget: str,
) -> None:
    import optuna

    import storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(
        study_name=study_name, storage=storage.open_storage(url), sampler=_sampler(sampler)
    )
    timings: list[tuple[int, float, float, float]] = []
    store = None
    if checkpoints != "none":
        store = _checkpoint_store(checkpoints, Path(tempfile.mkdtemp()))
    while True:
        timings.append(_timed_trial(study, store, budget))
        if timings[-1][0] >= n_trials - 1:
            break
    out.put(timings)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return p50 * 1000, p95 * 1000


Timing = tuple[int, float, float, float]


def _windows(
    timings: list[Timing], n_trials: int, window: int | None = None
) -> dict[str, dict[str, float]]:
    """Per window: p50 and p95 ms of a trial, p50 ms of its budget checks and of prune."""
    window = window or _window(n_trials)
    result = {}
    for name, rows in (
        ("first", [t for t in timings if t[0] < window]),
        ("last", [t for t in timings if t[0] >= n_trials - window]),
    ):
        if not rows:
            continue
        p50, p95 = _percentiles([t[1] for t in rows])
        result[name] = {
            "p50": p50,
            "p95": p95,
            "budget": _percentiles([t[2] for t in rows])[0],
            "prune": _percentiles([t[3] for t in rows])[0],
        }
    return result


def _memory_baseline(n_trials: int, sampler: str) -> dict[str, dict[str, float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=_sampler(sampler))
    return _windows([_timed_trial(study) for _ in range(n_trials)], n_trials)


def _prefill(url: str, study_name: str, count: int) -> None:
    """Add ``count`` finished trials (params, value, a checkpoint attribute) to the study.

    On a database the rows go in with bulk inserts into Optuna's tables (seconds for 10k
    trials, instead of a transaction each): they only stand for the trials a large study
    already holds.
    """
    import datetime
    import json

    import optuna
    import sqlalchemy
    from optuna.distributions import FloatDistribution, IntDistribution, distribution_to_json
    from optuna.trial import TrialState

    import storage
    from search._checkpoints import CHECKPOINT_ATTR

    backend = storage.open_storage(url)
    distributions = {"x": FloatDistribution(-10, 10), "y": IntDistribution(1, 100)}

    def params(number: int) -> dict[str, float]:
        return {"x": (number % 200) / 10 - 10, "y": float(number % 100 + 1)}

    if not isinstance(backend, optuna.storages.RDBStorage):
        study = optuna.load_study(study_name=study_name, storage=backend)
        for number in range(count):
            p = params(number)
            study.add_trial(
                optuna.trial.create_trial(
                    params={"x": p["x"], "y": int(p["y"])},
                    distributions=distributions,
                    value=p["x"] ** 2 + p["y"],
                    user_attrs={CHECKPOINT_ATTR: f"prefilled-{number}"},
                )
            )
        return
    from optuna.storages._rdb import models

    study_id = backend.get_study_id_from_name(study_name)
    now = datetime.datetime.now()
    with backend.engine.begin() as connection:
        trials = models.TrialModel.__table__
        connection.execute(
            sqlalchemy.insert(trials),
            [
                {
                    "number": number,
                    "study_id": study_id,
                    "state": TrialState.COMPLETE,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for number in range(count)
            ],
        )
        ids: dict[int, int] = dict(
            connection.execute(
                sqlalchemy.select(trials.c.number, trials.c.trial_id).where(
                    trials.c.study_id == study_id
                )
            ).all()
        )
        connection.execute(
            sqlalchemy.insert(models.TrialParamModel.__table__),
            [
                {
                    "trial_id": ids[number],
                    "param_name": name,
                    "param_value": value,
                    "distribution_json": distribution_to_json(distributions[name]),
                }
                for number in range(count)
                for name, value in params(number).items()
            ],
        )
        connection.execute(
            sqlalchemy.insert(models.TrialValueModel.__table__),
            [
                {
                    "trial_id": ids[number],
                    "objective": 0,
                    "value": params(number)["x"] ** 2 + params(number)["y"],
                    "value_type": models.TrialValueModel.TrialValueType.FINITE,
                }
                for number in range(count)
            ],
        )
        connection.execute(
            sqlalchemy.insert(models.TrialUserAttributeModel.__table__),
            [
                {
                    "trial_id": ids[number],
                    "key": CHECKPOINT_ATTR,
                    "value_json": json.dumps(f"prefilled-{number}"),
                }
                for number in range(count)
            ],
        )


def growth(args, folder: Path) -> None:
    """``--prefill W``: the same W timed trials, round-robin over studies of each size."""
    import optuna

    import storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sizes = [int(n) for n in args.trials.split(",")]
    combos = [
        (kind, store, budget)
        for kind in args.backends.split(",")
        for store in args.checkpoints.split(",")
        for budget in args.budget.split(",")
    ]
    studies: dict[tuple[str, str, str, int], tuple[Any, Any, list[Timing]]] = {}
    with contextlib.ExitStack() as stack:
        for combo in combos:
            for size in sizes:
                url = stack.enter_context(FreshStorage(combo[0], folder))
                name = f"bench-{uuid.uuid4().hex[:6]}"
                optuna.create_study(study_name=name, storage=storage.open_storage(url))
                started = time.perf_counter()
                _prefill(url, name, size)
                print(f"prefilled {combo} {size} trials in {time.perf_counter() - started:.1f} s")
                study = optuna.load_study(
                    study_name=name,
                    storage=storage.open_storage(url),
                    sampler=_sampler(args.sampler),
                )
                store = None
                if combo[1] != "none":
                    store = _checkpoint_store(combo[1], folder)
                    store.prune(study)  # its first read of the study, as a worker's first
                studies[(*combo, size)] = (study, store, [])
        for _ in range(args.prefill):  # interleaved: a load spike hits every study alike
            for key, (study, store, timings) in studies.items():
                timings.append(_timed_trial(study, store, key[2]))
    print(
        f"\n{args.prefill} timed trials per study after N finished ones, interleaved; p50/p95 "
        "of a trial (ask->tell with budget checks and prune), p50 of its budget checks and "
        "prune, ms; x first: the trial p50 against the smallest study of the same kind"
    )
    print(
        f"{'backend':<11}{'ckpt':<5}{'budget':<7}{'N':>8}{'p50':>9}{'p95':>9}{'budget':>9}"
        f"{'prune':>9}{'x first':>9}"
    )
    smallest: dict[tuple[str, str, str], float] = {}
    for (kind, store_kind, budget, size), (_, _, timings) in studies.items():
        p50, p95 = _percentiles([t[1] for t in timings])
        budget_ms = _percentiles([t[2] for t in timings])[0]
        prune_ms = _percentiles([t[3] for t in timings])[0]
        base = smallest.setdefault((kind, store_kind, budget), p50)
        print(
            f"{kind:<11}{store_kind:<5}{budget:<7}{size:>8}{p50:>9.2f}{p95:>9.2f}"
            f"{budget_ms:>9.2f}{prune_ms:>9.2f}{p50 / base:>9.2f}",
            flush=True,
        )


def measure(
    kind: str,
    workers: int,
    n_trials: int,
    sampler: str,
    folder: Path,
    checkpoints: str = "none",
    budget: str = "none",
):
    """Run ``workers`` processes to ``n_trials`` trials; return per-window ms (:func:`_windows`),
    the wall time and the number of trials timed."""
    import optuna

    import storage

    with FreshStorage(kind, folder) as url:
        study_name = f"bench-{uuid.uuid4().hex[:6]}"
        optuna.create_study(study_name=study_name, storage=storage.open_storage(url))
        queue: mp.Queue = mp.get_context("spawn").Queue()
        context = mp.get_context("spawn")
        processes = [
            context.Process(
                target=_worker,
                args=(url, study_name, n_trials, sampler, queue, checkpoints, budget),
            )
            for _ in range(workers)
        ]
        started = time.perf_counter()
        for process in processes:
            process.start()
        timings: list[Timing] = []
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
    parser.add_argument(
        "--checkpoints",
        default="none",
        help="none, or new/old (comma separated): each trial also saves a checkpoint and "
        "keeps the best 3, with the project's prune (new) or the one that re-read every "
        "trial (old)",
    )
    parser.add_argument(
        "--budget",
        default="none",
        help="none, or new/old (comma separated): each trial also makes the worker's budget "
        "checks, with COUNT queries (new) or by reading every trial (old)",
    )
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        metavar="W",
        help="growth instead: one process times W trials on each study after filling it with "
        "N finished trials (bulk inserts), round-robin over the studies (a reduced run of a "
        "large N, free of the load drift between separate runs)",
    )
    args = parser.parse_args()
    if args.prefill:
        with tempfile.TemporaryDirectory() as tmp:
            growth(args, Path(tmp))
        return
    workers = [int(w) for w in args.workers.split(",")]
    trials = [int(n) for n in args.trials.split(",")]
    print(f"machine: {os.cpu_count()} cores; sampler: {args.sampler}; per trial, ms")
    print(
        "windows: first and last tenth of the trials (1,000 at most); trial = ask->tell with "
        "the budget checks and prune; budget, prune: their own p50"
    )
    print(
        f"{'backend':<11}{'ckpt':<5}{'budget':<7}{'W':>4}{'trials':>8}  {'window':<7}"
        f"{'p50':>8}{'p95':>8}{'x mem p50':>11}{'budget':>8}{'prune':>8}{'trials/s':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n_trials in trials:
            baseline = _memory_baseline(n_trials, args.sampler)
            for window, cells in baseline.items():
                print(
                    f"{'memory':<11}{'none':<5}{'none':<7}{1:>4}{n_trials:>8}  {window:<7}"
                    f"{cells['p50']:>8.2f}{cells['p95']:>8.2f}{1.0:>11.2f}",
                    flush=True,
                )
            for kind in args.backends.split(","):
                for store in args.checkpoints.split(","):
                    for budget in args.budget.split(","):
                        for w in workers:
                            result, wall, count = measure(
                                kind, w, n_trials, args.sampler, Path(tmp), store, budget
                            )
                            for window, cells in result.items():
                                ratio = cells["p50"] / baseline[window]["p50"]
                                print(
                                    f"{kind:<11}{store:<5}{budget:<7}{w:>4}{n_trials:>8}  "
                                    f"{window:<7}{cells['p50']:>8.2f}{cells['p95']:>8.2f}"
                                    f"{ratio:>11.2f}{cells['budget']:>8.2f}"
                                    f"{cells['prune']:>8.2f}{count / wall:>10.1f}",
                                    flush=True,
                                )


if __name__ == "__main__":
    main()
