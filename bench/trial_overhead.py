"""What the storage adds to each trial and each epoch, against an in-memory study.

A trial here does everything a worker's trial does with the study except training: ask,
suggest the default search space (``build_config``'s, through ``SearchSpace.suggest``),
``report`` + ``should_prune`` each epoch with the default pruner, write the trial's
attributes (the same keys and sizes as ``TaskObjective``), tell. Each operation is timed
separately. Even trials write their parameters and their attributes in one write each
(``SearchSpace.suggest``, ``storage.set_trial_user_attrs``), odd ones with one write per
parameter (``SearchSpace.suggest_per_parameter``, Optuna's own ``set_trial_param``) and
one ``set_user_attr`` per key (before issue 18), so both meet the same study and the same
load. The in-memory study of the same run is the baseline of every ratio; the last table
compares the suggest cost per trial before and after, in total and above the in-memory
study (the storage's share: the sampler's own time is the same in both).

    nice -n 10 python bench/trial_overhead.py --trials 40 --epochs 15 \
        --backends sqlite,postgresql

``postgresql`` is a throwaway database on $HPSEARCH_BENCH_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test); it is skipped when the server is unreachable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OPERATIONS = ("ask", "suggest", "report", "should_prune", "attrs", "tell")
PER_EPOCH = ("report", "should_prune")


def _attrs(epochs: int, pruned_at: int | None) -> dict[str, Any]:
    """Attributes shaped like a real trial's (TaskObjective._user_attrs)."""
    history = [
        {"epoch": e, "accuracy": 0.5 + e / 100, "loss": 1.0 - e / 100, "train_loss": 0.9}
        for e in range(epochs)
    ]
    attrs: dict[str, Any] = {
        "n_parameters": 123456,
        "device": "cpu",
        "seed": 0,
        "val_history": history,
        "epochs_run": len(history),
        "train_seconds": 12.3456,
        "cuda_graphs": "off: not a CUDA device",
    }
    if pruned_at is not None:
        attrs["pruned_at_epoch"] = pruned_at
    else:
        attrs["best_epoch"] = epochs - 1
        attrs["best_metrics"] = {"accuracy": history[-1]["accuracy"], "loss": 0.5}
    return attrs


def run_study(study, config, n_trials: int) -> dict[str, list[float]]:
    """``n_trials`` no-training trials; seconds of each operation, per call."""
    import optuna

    from storage import set_trial_user_attrs

    space = config.search_space()
    times: dict[str, list[float]] = defaultdict(list)
    for number in range(n_trials):
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            times[name].append(now - clock)
            clock = now

        trial = study.ask()
        lap("ask")
        if number % 2 == 0:
            space.suggest(trial)
            lap("suggest")
        else:
            space.suggest_per_parameter(trial)
            lap("suggest per parameter")
        pruned_at = None
        quality = (number * 7919 % 101) / 101  # a spread of curves, the same every run
        for epoch in range(config.epochs):
            trial.report(quality * (1 - 0.5 ** (epoch + 1)), epoch)
            lap("report")
            prune = trial.should_prune()
            lap("should_prune")
            if prune:
                pruned_at = epoch
                break
        attrs = _attrs(config.epochs if pruned_at is None else pruned_at + 1, pruned_at)
        if number % 2 == 0:
            set_trial_user_attrs(trial, attrs)
            lap("attrs")
        else:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            lap("attrs per key")
        if pruned_at is None:
            study.tell(trial, quality)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        lap("tell")
    return times


def _postgres_database() -> tuple[Any, str, str] | None:
    import psycopg

    admin_url = os.environ.get(
        "HPSEARCH_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
    )
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"postgresql skipped: {str(exc).strip().splitlines()[0]}")
        return None
    name = f"hpsearch_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    host = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    return admin, name, f"postgresql+psycopg://{host}/{name}"


def _drop(admin: Any, name: str) -> None:
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
    )
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def measure(backend: str, config, n_trials: int, folder: Path) -> dict[str, list[float]] | None:
    """Times of one backend's study (``memory``, ``sqlite`` or ``postgresql``)."""
    import optuna

    import storage
    from search._distinct import study_sampler

    dropping = None
    if backend == "memory":
        target: Any = None
    elif backend == "sqlite":
        target = storage.open_storage(f"sqlite:///{folder}/{uuid.uuid4().hex[:8]}.db")
    elif backend == "postgresql":
        made = _postgres_database()
        if made is None:
            return None
        admin, name, url = made
        dropping = (admin, name)
        target = storage.open_storage(url)
    else:
        raise SystemExit(f"unknown backend {backend!r}; accepted: sqlite, postgresql")
    try:
        study = optuna.create_study(
            storage=target,
            sampler=study_sampler(config),
            pruner=config.build_pruner(),
            direction="maximize",
        )
        return run_study(study, config, n_trials)
    finally:
        if dropping is not None:
            _drop(*dropping)


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def main() -> None:
    """Measure every backend and print one table with ratios to the in-memory study."""
    import optuna

    from search._config import build_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    config = build_config({"n_trials": args.trials, "epochs": args.epochs})
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in ["memory", *args.backends.split(",")]:
            measured = measure(backend, config, args.trials, Path(folder))
            if measured is not None:
                results[backend] = measured
    memory = results["memory"]
    epochs_run = len(memory["report"]) / args.trials
    print(
        f"machine: {os.cpu_count()} cores; {args.trials} trials, up to {args.epochs} epochs "
        f"({epochs_run:.1f} run on average with the default pruner); sampler "
        f"{config.sampler.get('name', 'tpe')}; {len(memory['attrs'])} trials write their "
        f"parameters and attributes at once, {len(memory['attrs per key'])} per parameter / key"
    )
    print("\nmedian ms per call (x the in-memory study)")
    print(f"{'operation':<30}" + "".join(f"{b:>22}" for b in results))
    for name in (*OPERATIONS, "suggest per parameter", "attrs per key"):
        base = _ms(memory[name])
        cells = [
            f"{_ms(times[name]):>12.2f} ({_ms(times[name]) / base:>6.1f}x)"
            for times in results.values()
        ]
        print(f"{name:<30}" + "".join(f"{cell:>22}" for cell in cells))
    print("\nms per epoch (report + should_prune) and per trial (every call at its median)")
    totals: dict[str, list[float]] = defaultdict(list)
    for times in results.values():
        # Calls per trial come from the in-memory study (the same trials prune the same way).
        calls = {
            name: len(memory[name]) / args.trials
            for name in OPERATIONS
            if name not in ("attrs", "suggest")
        }
        fixed = sum(_ms(times[name]) * n for name, n in calls.items())
        totals["per epoch"].append(sum(_ms(times[name]) for name in PER_EPOCH))
        totals["per trial, one write each"].append(
            fixed + _ms(times["suggest"]) + _ms(times["attrs"])
        )
        totals["per trial, per param / key"].append(
            fixed + _ms(times["suggest per parameter"]) + _ms(times["attrs per key"])
        )
    for key, values in totals.items():
        cells = [f"{v:>12.2f} ({v / values[0]:>6.1f}x)" for v in values]
        print(f"{key:<30}" + "".join(f"{cell:>22}" for cell in cells))
    _print_suggest(results)


def _print_suggest(results: dict[str, dict[str, list[float]]]) -> None:
    """Suggest per trial, one write per parameter (before) / one write (after)."""
    memory = results["memory"]
    base = {name: _ms(memory[name]) for name in ("suggest", "suggest per parameter")}
    print("\nsuggest per trial: per parameter (before) / one write (after)")
    print(f"{'':<30}" + "".join(f"{b:>22}" for b in results))
    rows: dict[str, list[str]] = defaultdict(list)
    for times in results.values():
        before, after = _ms(times["suggest per parameter"]), _ms(times["suggest"])
        rows["ms before -> after"].append(f"{before:.1f} -> {after:.1f}")
        rows["before / after"].append(f"{before / after:.2f}x")
        above = (before - base["suggest per parameter"], after - base["suggest"])
        rows["ms above memory, b -> a"].append(f"{above[0]:.1f} -> {above[1]:.1f}")
        share = above[0] / above[1] if above[1] > 0 else float("nan")
        rows["above memory, before / after"].append(f"{share:.1f}x")
    for key, cells in rows.items():
        print(f"{key:<30}" + "".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()
