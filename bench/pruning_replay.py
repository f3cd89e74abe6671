"""Pruners replayed on recorded learning curves: many more orderings than live runs afford.

``bench/pruning.py --save FILE`` records the per-epoch validation curve of every trial it
ran. The unpruned random-search trials in it are a pool of real configurations with their
full curves. This script draws configurations from the pool at random (with replacement,
``--repeats`` times per pruner, the same draws for every pruner) and feeds their curves to
each real Optuna pruner, epoch by epoch, until the budget of ``trials x epochs`` epochs is
spent. The baseline is the same draws without pruning (random search, ``trials`` trials).
Because it replays recorded curves, it measures the pruner alone (the sampler is random
search), at no training cost; the live script measures TPE with the pruner.

Reports "reach x" (baseline epochs to its best / the pruner's epochs to the same value; 0
when it did not reach it within the budget), how often it reached it, and the best value at
the budget as a ratio to the baseline's.

Usage:
    python bench/pruning_replay.py /tmp/digits.json --trials 15 --repeats 300
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRUNERS: dict[str, dict[str, Any]] = {
    "nop": {"name": "nop"},
    "old-median": {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2},
    "median": {"name": "median"},
    "percentile": {"name": "percentile", "percentile": 25.0},
    "sh": {"name": "successive_halving"},
    "sh4": {"name": "successive_halving", "reduction_factor": 4},
    "sh2": {"name": "successive_halving", "reduction_factor": 2},
    "hyperband": {"name": "hyperband"},
}


def replay(pruner: Any, draws: list[list[float]], budget: int, limit: int | None) -> list:
    """(epochs so far, best completed value so far) after each replayed trial."""
    import optuna

    study = optuna.create_study(direction="maximize", pruner=pruner)
    points: list[tuple[int, float]] = []
    epochs, best = 0, float("-inf")
    for index, curve in enumerate(draws):
        if epochs >= budget or (limit is not None and index >= limit):
            break
        trial = study.ask()
        pruned = False
        for step, value in enumerate(curve):
            trial.report(value, step)
            epochs += 1
            if trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, max(curve))
            best = max(best, max(curve))
        points.append((epochs, best))
    return points


def _reach(points: list, target: float, budget: int) -> int | None:
    return next((e for e, v in points if e <= budget and v >= target), None)


def _best(points: list, budget: int) -> float:
    inside = [v for e, v in points if e <= budget]
    return inside[-1] if inside else float("-inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("curves", nargs="+", help="JSON files written by bench/pruning.py --save")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--pruners", default=",".join(PRUNERS))
    args = parser.parse_args()

    import optuna

    from search._config import build_config

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    pool: list[list[float]] = []
    epochs = 0
    for path in args.curves:
        saved = json.loads(Path(path).read_text())
        epochs = saved["epochs"]
        for run in saved["runs"]:
            if run["strategy"] == "random":
                pool += [c for c in run["curves"] if len(c) == epochs]
    budget = args.trials * epochs
    print(
        f"pool: {len(pool)} full curves of {epochs} epochs; budget {budget} epochs; "
        f"{args.repeats} draws"
    )
    names = args.pruners.split(",")
    rows: dict[str, dict[str, list[float]]] = {n: {"reach": [], "best": []} for n in names}
    for repeat in range(args.repeats):
        rng = random.Random(repeat)
        draws = [rng.choice(pool) for _ in range(budget)]  # enough for any pruner
        base = replay(optuna.pruners.NopPruner(), draws, budget, args.trials)
        target = _best(base, budget)
        base_epochs = _reach(base, target, budget) or budget
        for name in names:
            config = build_config(
                {"n_trials": args.trials, "epochs": epochs, "pruner": PRUNERS[name]}
            )  # as hpsearch builds it
            points = replay(config.build_pruner(), draws, budget, None)
            reached = _reach(points, target, budget)
            # Not reaching the baseline's best within the budget counts as 0x.
            rows[name]["reach"].append(base_epochs / reached if reached else 0.0)
            rows[name]["best"].append(_best(points, budget) / target)
    print(
        f"{'pruner':<12}{'reach x median (p25..p75)':<28}{'reached':>8}{'mean reach x':>14}"
        f"{'best x median (min)':>22}"
    )
    for name in names:
        reach, best = rows[name]["reach"], rows[name]["best"]
        quartiles = statistics.quantiles(reach, n=4) if len(reach) > 1 else [0, 0, 0]
        print(
            f"{name:<12}{statistics.median(reach) if reach else 0:<6.2f}"
            f"({quartiles[0]:.2f}..{quartiles[2]:.2f}){'':<12}"
            f"{sum(r > 0 for r in reach) / args.repeats:>8.0%}"
            f"{statistics.fmean(reach) if reach else 0:>14.2f}"
            f"{statistics.median(best):>14.4f} ({min(best):.4f})"
        )


if __name__ == "__main__":
    main()
