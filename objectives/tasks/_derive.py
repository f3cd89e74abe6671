"""Search-space dimensions fitted to the loaded data: lengths, vocabulary cut-offs, rates.

A default space is written before any data is read, so its ``max_length`` choices, its
``min_freq`` range and its learning rates are guesses. Once a worker has the data, a task
replaces the dimensions the user left unset with ones the data supports (see
:meth:`objectives.tasks.Task.derive_space`), and says which statistics drove each choice so
a report can show them. Every function here is pure: spaces and statistics in, specs out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LENGTH_PERCENTILES = (50, 90, 99)
"""Training-length percentiles that become ``max_length`` choices."""
LENGTH_MULTIPLE = 8
"""``max_length`` choices are rounded up to a multiple of this (never past the longest)."""
MIN_TOKEN_COVERAGE = 0.95
"""Least share of training tokens a ``min_freq`` must keep in the vocabulary."""

ADAPTIVE_STEP_BUDGET = 0.2
"""Adam moves each weight by at most about ``lr`` per step; a trial whose ``lr`` times its
number of steps is below this barely leaves its initialisation in the epochs it has."""
LR_FLOOR = {"adam": 1e-4, "adamw": 1e-4, "sgd": 1e-2}
"""Lowest learning rate worth trying per optimizer (SGD's step is ``lr`` times a gradient
of order 1e-2..1, so it needs rates two orders higher than Adam's)."""
LR_CEILING = {"adam": 1e-2, "adamw": 1e-2, "sgd": 0.3}
"""Highest learning rate searched per optimizer, when the space allows less."""


@dataclass(frozen=True)
class DerivedSpace:
    """Dimensions a task fitted to its data.

    Attributes:
        updates: Parameter specs (config form) replacing the default ones, by name.
        statistics: What drove each update, by parameter name (plain JSON types).
    """

    updates: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, spec: Any, statistics: Mapping[str, Any]) -> None:
        """Record ``spec`` for ``name`` and the statistics behind it."""
        self.updates[name] = spec
        self.statistics[name] = {"space": spec, **statistics}


def derivable(space: Mapping[str, Any], given: Iterable[str], name: str, *types: str) -> bool:
    """Whether ``name`` is in ``space`` as one of ``types``, unconditioned and not set by
    the user (a user's or preset's explicit dimension always wins)."""
    spec = space.get(name)
    return (
        name not in set(given)
        and isinstance(spec, Mapping)
        and spec.get("type") in types
        and not spec.get("when")
    )


def _round_up(value: float, multiple: int = LENGTH_MULTIPLE) -> int:
    return max(multiple, int(math.ceil(value / multiple)) * multiple)


def length_choices(lengths: np.ndarray, keep: Iterable[int] = ()) -> tuple[list[int], dict]:
    """``max_length`` choices from training lengths: percentiles, rounded, capped, unique.

    Args:
        lengths: Token count of each training example (already capped at the task's
            ``max_length``, so no choice goes past it).
        keep: Values that must stay possible (a baseline's).

    Returns:
        The sorted choices and the statistics behind them.
    """
    longest = int(lengths.max())
    percentiles = {f"p{q}": float(np.percentile(lengths, q)) for q in LENGTH_PERCENTILES}
    choices = {min(_round_up(value), longest) for value in percentiles.values()}
    choices.update(int(value) for value in keep)
    statistics = {
        "percentiles": {k: round(v, 1) for k, v in percentiles.items()},
        "longest": longest,
    }
    return sorted(choices), statistics


def token_coverage(token_counts: Sequence[int], min_freq: int) -> float:
    """Share of training tokens whose word is seen at least ``min_freq`` times.

    ``token_counts`` is the count of each vocabulary id, ranked (ids 0 and 1, padding and
    unknown, are not words).
    """
    counts = np.asarray(token_counts[2:], dtype=np.int64)
    total = int(counts.sum())
    return float(counts[counts >= min_freq].sum() / total) if total else 1.0


def min_freq_spec(
    spec: Mapping[str, Any], token_counts: Sequence[int], keep: Iterable[int] = ()
) -> tuple[Any, dict]:
    """``spec`` (an int range or choices) cut to the ``min_freq`` values that keep at least
    :data:`MIN_TOKEN_COVERAGE` of the training tokens in the vocabulary.

    The smallest candidate always stays, so the space is never empty; a single survivor
    becomes a fixed value.
    """
    if spec["type"] == "categorical":
        candidates = sorted(int(c) for c in spec["choices"])
    else:
        candidates = list(range(int(spec["low"]), int(spec["high"]) + 1))
    coverage = {m: token_coverage(token_counts, m) for m in candidates}
    kept = [m for m in candidates if coverage[m] >= MIN_TOKEN_COVERAGE] or candidates[:1]
    kept = sorted(set(kept) | {int(value) for value in keep})
    statistics = {
        "coverage": {str(m): round(c, 4) for m, c in coverage.items()},
        "threshold": MIN_TOKEN_COVERAGE,
    }
    if len(kept) == 1:
        return kept[0], statistics
    if spec["type"] == "categorical" or kept != list(range(kept[0], kept[-1] + 1)):
        return {"type": "categorical", "choices": kept}, statistics
    return {"type": "int", "low": kept[0], "high": kept[-1]}, statistics


def spec_values(spec: Any) -> list[Any]:
    """The values a spec can take when it is a finite set, else ``[]``."""
    if not isinstance(spec, Mapping):
        return [spec]
    if spec.get("type") == "categorical":
        return list(spec["choices"])
    if spec.get("type") == "fixed":
        return [spec["value"]]
    return []


def lr_spec(
    spec: Mapping[str, Any],
    *,
    optimizers: Sequence[str],
    n_train: int,
    batch_sizes: Sequence[int],
    epochs: int,
    keep: Iterable[float] = (),
) -> tuple[dict[str, Any], dict]:
    """A learning-rate range bounded by the optimizers searched and the steps a trial has.

    For Adam and AdamW the low end rises to :data:`ADAPTIVE_STEP_BUDGET` over the fewest
    steps a trial takes (its epochs at the largest batch size), so no trial is spent on a
    rate that cannot converge in time; it stays at least ten times under the high end.
    SGD (with momentum) gets its own floor and ceiling; with several optimizers the range
    covers them all.
    """
    low, high = float(spec["low"]), float(spec["high"])
    steps = max(1, epochs * math.ceil(n_train / max(1, max(batch_sizes))))
    lows, highs = [], []
    for name in optimizers:
        if name == "sgd":
            lows.append(max(low, LR_FLOOR["sgd"]))
            highs.append(max(high, LR_CEILING["sgd"]))
        else:
            floor = max(low, LR_FLOOR.get(name, low), ADAPTIVE_STEP_BUDGET / steps)
            lows.append(min(floor, high / 10))
            highs.append(high)
    new_low, new_high = min(lows, default=low), max(highs, default=high)
    for value in keep:
        new_low, new_high = min(new_low, float(value)), max(new_high, float(value))
    derived = {**spec, "low": float(f"{new_low:.3g}"), "high": new_high}
    statistics = {
        "optimizers": list(optimizers),
        "train_examples": n_train,
        "largest_batch": max(batch_sizes),
        "epochs": epochs,
        "fewest_steps": steps,
    }
    return derived, statistics


def optimizer_values(space: Mapping[str, Any], default: str) -> list[str]:
    """The optimizers a space can pick (its default when the space leaves it out)."""
    values = spec_values(space.get("optimizer", default))
    return [str(v) for v in values] or [default]


def batch_size_values(space: Mapping[str, Any], default: int) -> list[int]:
    """The batch sizes a space can pick (a range's high end when it is a range)."""
    spec = space.get("batch_size", default)
    values = spec_values(spec)
    if values:
        return [int(v) for v in values]
    return [int(spec["high"])]
