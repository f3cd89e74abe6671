"""Cost vs quality: the Pareto front of metric against a cost, and the cheapest near-best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd

from search._report_trials import completed_frame, maximizes

#: "Within 0.5 points of the best": half a percentage point. A metric whose values all lie
#: in [0, 1] is read as a fraction (accuracy 0.91 is 91 points), so the tolerance is 0.005;
#: any other metric is taken to be on its own scale already and the tolerance is 0.5.
POINTS_TOLERANCE = 0.5


@dataclass
class CostQuality:
    """Metric against one cost over the completed trials.

    Attributes:
        cost: The cost user attribute, ``train_seconds`` or ``n_parameters``.
        frame: One row per completed trial that has the cost: ``number``, ``value``,
            the cost, and ``on_front`` (whether the trial is Pareto-optimal in
            metric vs cost).
        front: Numbers of the Pareto-optimal trials, cheapest first.
        best: Number of the trial with the best metric.
        cheapest_within_tolerance: Number of the cheapest trial whose metric is within
            ``tolerance`` of the best.
        tolerance: The tolerance used, in metric units.
    """

    cost: str
    frame: pd.DataFrame
    front: list[int]
    best: int
    cheapest_within_tolerance: int
    tolerance: float


def points_tolerance(values: Sequence[float]) -> float:
    """Tolerance that means "0.5 points" for a metric with these values.

    Args:
        values: Metric values of the completed trials.

    Returns:
        0.005 when every value lies in [0, 1] (a fraction), else 0.5.
    """
    array = np.asarray(values, dtype=float)
    if array.size and np.all((array >= 0.0) & (array <= 1.0)):
        return POINTS_TOLERANCE / 100.0
    return POINTS_TOLERANCE


def non_dominated(points: np.ndarray, minimize: Sequence[bool]) -> np.ndarray:
    """Mask of the points no other point dominates.

    A point dominates another when it is at least as good in every objective and better
    in one; equal points do not dominate each other, so duplicates are all kept.

    Args:
        points: Array of shape ``(n_points, n_objectives)``.
        minimize: Per objective, whether smaller is better.

    Returns:
        Boolean array of length ``n_points``.
    """
    signs = np.where(np.asarray(minimize, dtype=bool), 1.0, -1.0)
    costs = np.asarray(points, dtype=float).reshape(len(points), len(signs)) * signs
    # (i, j): does point j dominate point i?
    no_worse = np.all(costs[None, :, :] <= costs[:, None, :], axis=2)
    better = np.any(costs[None, :, :] < costs[:, None, :], axis=2)
    return ~np.any(no_worse & better, axis=1)


def cheapest_within(
    frame: pd.DataFrame, cost: str, tolerance: float, maximize: bool
) -> pd.Series | None:
    """Cheapest row whose ``value`` is within ``tolerance`` of the best ``value``.

    Args:
        frame: Rows with ``value`` and ``cost`` columns.
        cost: Name of the cost column.
        tolerance: Largest shortfall from the best value that still counts.
        maximize: Whether a larger value is better.

    Returns:
        The chosen row (ties on cost go to the better value), or ``None`` if ``frame`` is
        empty.
    """
    if frame.empty:
        return None
    best = frame["value"].max() if maximize else frame["value"].min()
    shortfall = (best - frame["value"]) if maximize else (frame["value"] - best)
    # A hair of slack so a trial exactly `tolerance` away is not lost to float rounding.
    candidates = frame[shortfall <= tolerance + 1e-12]
    ordered = candidates.sort_values([cost, "value"], ascending=[True, not maximize])
    return ordered.iloc[0]


def cost_quality(
    study: optuna.Study, cost: str, tolerance: float | None = None
) -> CostQuality | None:
    """Metric against ``cost``: Pareto front and the cheapest near-best configuration.

    Args:
        study: The study; its first objective is the metric.
        cost: A cost user attribute, e.g. ``train_seconds`` or ``n_parameters``; lower is
            better.
        tolerance: How far below the best still counts as "as good"; defaults to
            :func:`points_tolerance` of the metric values.

    Returns:
        The analysis, or ``None`` when no completed trial records ``cost``.
    """
    frame = completed_frame(study)
    if cost not in frame:
        return None
    frame = frame.dropna(subset=[cost])[["number", "value", cost]].reset_index(drop=True)
    if frame.empty:
        return None
    maximize = maximizes(study)
    if tolerance is None:
        tolerance = points_tolerance(frame["value"])
    frame["on_front"] = non_dominated(frame[["value", cost]].to_numpy(), [not maximize, True])
    front = frame[frame["on_front"]].sort_values(cost)["number"].astype(int).tolist()
    best_row = frame.loc[frame["value"].idxmax() if maximize else frame["value"].idxmin()]
    chosen = cheapest_within(frame, cost, tolerance, maximize)
    assert chosen is not None  # frame is not empty
    return CostQuality(
        cost=cost,
        frame=frame,
        front=front,
        best=int(best_row["number"]),
        cheapest_within_tolerance=int(chosen["number"]),
        tolerance=tolerance,
    )
