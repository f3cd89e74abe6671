"""Pruning for a fixed budget in epochs: epochs to reach random search's best, and best at budget.

Every strategy gets the same budget of ``--trials x --epochs`` training epochs on the same
data, with the same seeds, in one process with in-memory Optuna studies (no storage cost).
The baseline, measured in the same run and seed, is random search without pruning: exactly
``--trials`` full trials. For each strategy and seed the script records the best validation
value after every trial against the epochs trained so far and reports:

- **reach x**: how many times fewer epochs than the baseline it needed to reach the
  baseline's final best value (the baseline's epochs to its best / the strategy's);
  "-" when it did not reach it within the budget;
- **budget x**: the same against the baseline's whole budget (budget / strategy's epochs);
- **best**: the best value at the budget, and its ratio to the baseline's;
- **oracle** (last line): the reach x of a pruner that knew the future, on random search's
  own order of trials (every trial before the first that reaches the best stopped after one
  epoch): where random search finds its best early, no pruner gets far above 1.

Medians over seeds with min..max, then one JSON line per strategy and seed.

Strategies (``--strategies``, comma separated): ``random`` (baseline, always run), ``tpe``
(TPE, no pruning), ``old`` (TPE with Optuna's 10 start-up trials + median 5/2, the previous
default), ``median``, ``percentile`` (25th), ``sh`` (successive halving), ``sh4``
(successive halving, reduction 4), ``hyperband``, ``patient`` (successive halving that
waits 1 epoch without improvement), ``sh_es`` (successive halving, and early stopping
after ``--early-stopping`` epochs without a better value: ``early_stopping`` in a config),
and ``default`` (whatever ``hpsearch`` builds when the config names no pruner). All but
``old`` take their start-up/warm-up from the study's budget (search/_budget.py), as
``hpsearch`` does.

Usage:
    python bench/pruning.py                                   # digits, 20 x 10, seeds 0,1
    python bench/pruning.py --data ../shared/datasets/trec/train_5500.label --trials 15 \
        --epochs 6 --seeds 0,1

Torch runs one thread; data is read in place (never copied) and loaded once per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STRATEGIES: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    # name: ([sampler] table, [pruner] table or None for hpsearch's default)
    "random": ({"name": "random"}, {"name": "nop"}),
    "tpe": ({"name": "tpe"}, {"name": "nop"}),
    "old": (
        {"name": "tpe", "n_startup_trials": 10},
        {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2},
    ),
    "median": ({"name": "tpe"}, {"name": "median"}),
    "percentile": ({"name": "tpe"}, {"name": "percentile", "percentile": 25.0}),
    "sh": ({"name": "tpe"}, {"name": "successive_halving"}),
    "sh4": ({"name": "tpe"}, {"name": "successive_halving", "reduction_factor": 4}),
    "hyperband": ({"name": "tpe"}, {"name": "hyperband"}),
    "patient": ({"name": "tpe"}, {"name": "successive_halving"}),
    "sh_es": ({"name": "tpe"}, {"name": "successive_halving"}),
    "default": ({"name": "tpe"}, None),
}


@dataclass
class Curve:
    """Best value so far against epochs trained, one point per finished trial."""

    strategy: str
    seed: int
    points: list[tuple[int, float]] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)  # per trial, per epoch
    trials: int = 0
    pruned: int = 0
    seconds: float = 0.0

    def best(self, budget: int) -> float:
        inside = [value for epochs, value in self.points if epochs <= budget]
        return inside[-1] if inside else float("nan")

    def oracle_x(self, epochs_per_trial: int, budget: int) -> float:
        """The most any pruner could save on this (random search's) order of trials.

        A pruner that knew the future would stop every trial before the first one that reaches
        this curve's best after its first epoch and train that one fully: that many x fewer
        epochs than this curve needed. A strategy that draws the same first configurations (TPE's
        random start-up does) cannot beat it before it leaves them.
        """
        target = self.best(budget)
        for number, (epochs, value) in enumerate(self.points, start=1):
            if value >= target:
                return epochs / (epochs_per_trial + number - 1)
        return float("nan")

    def epochs_to(self, target: float, budget: int) -> int | None:
        for epochs, value in self.points:
            if epochs > budget:
                return None
            if value >= target:
                return epochs
        return None


def run_strategy(name: str, seed: int, args: argparse.Namespace, data: Any) -> Curve:
    """One in-memory study of ``name`` until the epoch budget is spent."""
    import optuna

    from objectives import ObjectiveSettings, TaskObjective
    from search._presets import load_config
    from search._study import load_task

    sampler, pruner = STRATEGIES[name]
    overrides: dict[str, Any] = {"sampler": sampler}
    if pruner is not None:
        overrides["pruner"] = pruner
    config = load_config(
        None,
        data=args.data,
        n_trials=args.trials,
        epochs=args.epochs,
        seed=seed,
        metric=args.metric,
        storage="sqlite:///:memory:",  # never opened: the study below is in memory
        **overrides,
    )
    built_pruner = config.build_pruner()
    if name == "patient":
        built_pruner = optuna.pruners.PatientPruner(built_pruner, patience=1)
    task = load_task(config, data)
    settings = ObjectiveSettings(
        objectives=tuple(config.metric),
        max_epochs=config.epochs,
        seed=seed,
        device="cpu",
        cuda_graphs="off",
        early_stopping=args.early_stopping if name == "sh_es" else 0,
    )
    objective = TaskObjective(task, config.search_space().suggest, settings)
    study = optuna.create_study(
        direction=config.direction[0], sampler=config.build_sampler(), pruner=built_pruner
    )
    budget = args.trials * args.epochs
    curve = Curve(name, seed)
    epochs_used = 0
    best = float("-inf")
    sign = 1.0 if config.direction[0] == "maximize" else -1.0
    started = time.perf_counter()
    while epochs_used < budget and (name != "random" or curve.trials < args.trials):
        study.optimize(objective, n_trials=1, catch=(Exception,))
        trial = study.trials[-1]
        epochs_used += int(trial.user_attrs.get("epochs_run", 0))
        curve.trials += 1
        curve.pruned += trial.state == optuna.trial.TrialState.PRUNED
        curve.curves.append([h[config.metric[0]] for h in trial.user_attrs.get("val_history", [])])
        # Only completed trials count, as in a study: a pruned one has no value or model.
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
            best = max(best, sign * trial.value)
        curve.points.append((epochs_used, sign * best))
    curve.seconds = time.perf_counter() - started
    return curve


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", help="digits, or a file (TREC .label, ...)")
    parser.add_argument("--trials", type=int, default=20, help="Baseline trials [20].")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs per trial [10].")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument(
        "--early-stopping", type=int, default=3, help="Patience of the sh_es strategy [3]."
    )
    parser.add_argument("--strategies", default="old,median,sh")
    parser.add_argument("--save", help="Write every trial's learning curve to this JSON file.")
    args = parser.parse_args()

    import optuna
    import torch

    from search._presets import load_config
    from search._study import load_task

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    names = ["random"] + [s for s in args.strategies.split(",") if s and s != "random"]
    for name in names:
        if name not in STRATEGIES:
            raise SystemExit(f"strategy {name!r} is not known; accepted: {', '.join(STRATEGIES)}")
    budget = args.trials * args.epochs
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"data {args.data}; budget {budget} epochs ({args.trials} x {args.epochs}); seeds {seeds};"
        f" {os.cpu_count()} cores, torch 1 thread",
        flush=True,
    )
    curves: dict[str, list[Curve]] = {name: [] for name in names}
    baselines: dict[int, Curve] = {}
    # One split for every seed, so the seeds differ only in sampling and initialization and
    # the recorded curves form one pool (for bench/pruning_replay.py).
    data = load_task(load_config(None, data=args.data, seed=0))
    for seed in seeds:
        for name in names:
            curve = run_strategy(name, seed, args, data)
            curves[name].append(curve)
            if name == "random":
                baselines[seed] = curve
            base = baselines[seed]
            target = base.best(budget)
            base_epochs = base.epochs_to(target, budget) or budget
            reached = curve.epochs_to(target, budget)
            record = {
                "strategy": name,
                "seed": seed,
                "data": args.data,
                "budget_epochs": budget,
                "trials": curve.trials,
                "pruned": curve.pruned,
                "best": curve.best(budget),
                "baseline_best": target,
                "epochs_to_baseline_best": reached,
                "baseline_epochs_to_best": base_epochs,
                "seconds": round(curve.seconds, 1),
            }
            if name == "random":
                record["oracle_x"] = round(curve.oracle_x(args.epochs, budget), 2)
            print(json.dumps(record), flush=True)
            if args.save:
                saved = [
                    {"strategy": c.strategy, "seed": c.seed, "curves": c.curves}
                    for runs in curves.values()
                    for c in runs
                ]
                Path(args.save).write_text(json.dumps({"epochs": args.epochs, "runs": saved}))

    header = f"{'strategy':<11}{'trials':>7}{'pruned':>7}  {'reach x':<18}{'budget x':<18}"
    print()
    print(header + f"{'best':<8}{'best x':<18}{'reached':>8}")
    for name in names:
        reach, whole, ratio = [], [], []
        for curve in curves[name]:
            base = baselines[curve.seed]
            target = base.best(budget)
            epochs = curve.epochs_to(target, budget)
            if epochs is not None:
                reach.append((base.epochs_to(target, budget) or budget) / epochs)
                whole.append(budget / epochs)
            ratio.append(curve.best(budget) / target)
        best = statistics.median([c.best(budget) for c in curves[name]])
        trials = statistics.median([c.trials for c in curves[name]])
        pruned = statistics.median([c.pruned for c in curves[name]])
        print(
            f"{name:<11}{trials:>7.0f}{pruned:>7.0f}  {_spread(reach):<18}{_spread(whole):<18}"
            f"{best:<8.4f}{_spread(ratio):<18}{len(reach):>4}/{len(seeds)}"
        )
    oracle = [baselines[seed].oracle_x(args.epochs, budget) for seed in seeds]
    print(
        f"a pruner that knew the future, on random search's order of trials: reach x"
        f" {_spread(oracle)} (each seed: {', '.join(f'{x:.2f}' for x in oracle)})"
    )


if __name__ == "__main__":
    main()
