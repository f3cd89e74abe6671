"""bench/pruning.py's arithmetic: epochs to reach a value, and the ceiling any pruner has."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import pruning  # noqa: E402


def _random_search(values: list[float], epochs: int) -> pruning.Curve:
    """A random-search curve: every trial trained ``epochs`` epochs, best value so far."""
    curve = pruning.Curve("random", 0)
    best = float("-inf")
    for number, value in enumerate(values, start=1):
        best = max(best, value)
        curve.points.append((number * epochs, best))
    return curve


def test_epochs_to_a_value_count_every_epoch_up_to_the_trial_that_reaches_it():
    curve = _random_search([0.6, 0.9, 0.8, 0.95, 0.7], epochs=10)
    assert curve.best(50) == 0.95
    assert curve.epochs_to(0.9, 50) == 20
    assert curve.epochs_to(0.95, 30) is None  # beyond the budget
    assert curve.epochs_to(0.99, 50) is None


@pytest.mark.parametrize(
    ("values", "oracle"),
    [
        # best in trial 4 of 5, 10 epochs each: 40 epochs, against 10 for it + 1 per earlier trial
        ([0.6, 0.9, 0.8, 0.95, 0.7], 40 / 13),
        ([0.95, 0.9, 0.8], 1.0),  # found first: nothing to save
        ([0.5, 0.95, 0.95], 20 / 11),  # the first trial that reaches the best counts
    ],
)
def test_the_oracle_prunes_every_trial_before_the_best_after_one_epoch(values, oracle):
    curve = _random_search(values, epochs=10)
    assert curve.oracle_x(10, 10 * len(values)) == pytest.approx(oracle)
