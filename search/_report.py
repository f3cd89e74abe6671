"""What a study report says, as plain data: no HTML, no figures.

Every function here takes an :class:`optuna.Study` (or a frame built from one) and returns
dicts, DataFrames or trial numbers, so tests can check the analysis without rendering it.
:func:`build_report_data` gathers all of it, plus a note for each part that could not be
computed and why, which :mod:`search._report_html` then renders.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

#: Below this many completed trials the importance evaluators only fit noise; PED-ANOVA's
#: default top quantile (10 %) would hold a single trial.
MIN_TRIALS_FOR_IMPORTANCE = 8

#: "Within 0.5 points of the best": half a percentage point. A metric whose values all lie
#: in [0, 1] is read as a fraction (accuracy 0.91 is 91 points), so the tolerance is 0.005;
#: any other metric is taken to be on its own scale already and the tolerance is 0.5.
POINTS_TOLERANCE = 0.5

#: Cost columns the cost-vs-quality analysis looks for among the trial user attributes.
COST_ATTRIBUTES = ("train_seconds", "n_parameters")

_TRAINED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


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


@dataclass
class ReportData:
    """Everything a report shows, computed from one study.

    Attributes:
        study_name: Name of the study.
        metric: Name of the first objective, the one tables and importances are about.
        metric_names: Names of all objectives.
        maximize: Whether a larger first objective is better.
        summary: Output of :func:`summarize_study`.
        importances: Evaluator name -> {param: importance}; only evaluators that ran.
        marginal: Param -> marginal effect table (:func:`marginal_effects`).
        cost_quality: Cost name -> :class:`CostQuality`, for the costs the trials record.
        pareto_front: Numbers of the non-dominated trials of a multi-objective study.
        families: Per cell type table (:func:`family_comparison`), or ``None``.
        notes: One line for each part that could not be computed, and why.
    """

    study_name: str
    metric: str
    metric_names: list[str]
    maximize: bool
    summary: dict[str, Any]
    importances: dict[str, dict[str, float]] = field(default_factory=dict)
    marginal: dict[str, pd.DataFrame] = field(default_factory=dict)
    cost_quality: dict[str, CostQuality] = field(default_factory=dict)
    pareto_front: list[int] = field(default_factory=list)
    families: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def metric_names(study: optuna.Study) -> list[str]:
    """Names of the study's objectives, from the ``metric_names`` or ``metric`` attribute.

    Args:
        study: The study.

    Returns:
        One name per objective; ``objective_<i>`` where the study does not name it.
    """
    n_objectives = len(study.directions)
    names = study.user_attrs.get("metric_names")
    if isinstance(names, list) and len(names) == n_objectives:
        return [str(name) for name in names]
    metric = study.user_attrs.get("metric")
    if n_objectives == 1:
        return [str(metric) if metric else "value"]
    first = [str(metric)] if metric else []
    return first + [f"objective_{i}" for i in range(len(first), n_objectives)]


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


def completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials of ``study`` whose objective values are all finite."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.values is not None and all(math.isfinite(v) for v in trial.values)
    ]


def completed_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per completed trial: number, first objective, params, costs.

    Args:
        study: The study.

    Returns:
        Columns ``number``, ``value``, ``params_<name>`` for every parameter, and the
        :data:`COST_ATTRIBUTES` the trials record (missing ones are NaN).
    """
    rows = []
    for trial in completed_trials(study):
        row: dict[str, Any] = {"number": trial.number, "value": trial.values[0]}
        row.update({f"params_{name}": value for name, value in trial.params.items()})
        for cost in COST_ATTRIBUTES:
            cost_value = trial.user_attrs.get(cost)
            row[cost] = float(cost_value) if isinstance(cost_value, (int, float)) else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["number", "value", *COST_ATTRIBUTES])


def epochs_run(trial: FrozenTrial) -> int | None:
    """Epochs a trial trained: its ``epochs_run`` attribute, else its last reported step + 1."""
    recorded = trial.user_attrs.get("epochs_run")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    if trial.intermediate_values:
        return max(trial.intermediate_values) + 1
    return None


def summarize_study(study: optuna.Study) -> dict[str, Any]:
    """Trial counts, best result, training time and the training the pruner saved.

    Args:
        study: The study.

    Returns:
        A dict with ``states`` (state name -> count), ``n_trials``, ``best_value`` and
        ``best_params`` (single-objective; ``None`` when nothing completed),
        ``n_pareto_optimal`` (multi-objective), ``total_train_seconds``,
        ``mean_train_seconds`` and ``n_with_train_seconds`` (from the ``train_seconds``
        attribute), ``max_epochs``, ``epochs_run``, ``epochs_full_budget`` (epochs a full run
        of every trial with known epochs would have taken), ``epochs_saved_by_pruner`` (the
        budget pruned trials did not use) and ``n_with_epochs``.
    """
    trials = study.get_trials(deepcopy=False)
    states = {state.name: 0 for state in TrialState}
    for trial in trials:
        states[trial.state.name] += 1
    summary: dict[str, Any] = {
        "n_trials": len(trials),
        "states": {name: count for name, count in states.items() if count},
        "best_value": None,
        "best_params": None,
        "best_trial": None,
    }
    completed = completed_trials(study)
    if len(study.directions) == 1 and completed:
        best = study.best_trial
        summary.update(best_value=best.value, best_params=best.params, best_trial=best.number)
    elif completed:
        summary["n_pareto_optimal"] = len(study.best_trials)

    seconds = [
        float(t.user_attrs["train_seconds"])
        for t in trials
        if isinstance(t.user_attrs.get("train_seconds"), (int, float))
    ]
    summary["n_with_train_seconds"] = len(seconds)
    summary["total_train_seconds"] = float(sum(seconds)) if seconds else None
    summary["mean_train_seconds"] = float(np.mean(seconds)) if seconds else None

    trained = [t for t in trials if t.state in _TRAINED_STATES]
    runs = [(t, epochs_run(t)) for t in trained]
    known = [(t, n) for t, n in runs if n is not None]
    max_epochs = study.user_attrs.get("max_epochs")
    if not isinstance(max_epochs, int) or max_epochs < 1:
        max_epochs = max((n for _, n in known), default=None)
    summary["max_epochs"] = max_epochs
    summary["n_with_epochs"] = len(known)
    if known and max_epochs:
        summary["epochs_run"] = int(sum(n for _, n in known))
        summary["epochs_full_budget"] = int(max_epochs * len(known))
        summary["epochs_saved_by_pruner"] = int(
            sum(max(max_epochs - n, 0) for t, n in known if t.state == TrialState.PRUNED)
        )
    else:
        summary["epochs_run"] = summary["epochs_full_budget"] = None
        summary["epochs_saved_by_pruner"] = None
    return summary


def _param_distributions(study: optuna.Study) -> dict[str, BaseDistribution]:
    distributions: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        distributions.update(trial.distributions)
    return distributions


def _format_edge(value: float) -> str:
    return f"{value:.3g}"


def marginal_effects(study: optuna.Study, n_bins: int = 4) -> dict[str, pd.DataFrame]:
    """Metric per value (categorical) or per quantile bin (numeric) of every parameter.

    This is the table a one-factor sweep produced, computed from all completed trials of
    the study: every other parameter varies too, so a level's mean is its average effect
    over the rest of the search, not its effect with everything else held fixed.

    Args:
        study: The study; the first objective is tabulated.
        n_bins: Numeric parameters with more distinct values than this are cut into this
            many bins holding about the same number of trials.

    Returns:
        Param -> DataFrame with columns ``level``, ``n``, ``mean``, ``std``, ``min``,
        ``max`` and ``best`` (the best value seen at that level), levels in order.
    """
    frame = completed_frame(study)
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    distributions = _param_distributions(study)
    tables: dict[str, pd.DataFrame] = {}
    for name, distribution in distributions.items():
        column = f"params_{name}"
        if column not in frame:
            continue
        values = frame[[column, "value"]].dropna(subset=[column])
        if values.empty:
            continue
        levels = values[column]
        if isinstance(distribution, CategoricalDistribution):
            order = [c for c in distribution.choices if c in set(levels)]
            keys = pd.Categorical(levels, categories=order, ordered=True)
            labels = [str(c) for c in order]
        elif levels.nunique() <= n_bins:
            order = sorted(levels.unique())
            keys = pd.Categorical(levels, categories=order, ordered=True)
            labels = [_format_edge(float(c)) for c in order]  # type: ignore[arg-type]  # numeric levels
        else:
            keys = pd.qcut(levels.astype(float), q=n_bins, duplicates="drop")
            # Label bins by the values seen in them: qcut's own edges stretch past the data.
            seen = levels.astype(float).groupby(keys, observed=False).agg(["min", "max"])
            labels = [f"{_format_edge(lo)} – {_format_edge(hi)}" for lo, hi in seen.to_numpy()]
        grouped = values.groupby(keys, observed=False)["value"]
        table = pd.DataFrame(
            {
                "level": labels,
                "n": grouped.size().to_numpy(),
                "mean": grouped.mean().to_numpy(),
                "std": grouped.std().to_numpy(),
                "min": grouped.min().to_numpy(),
                "max": grouped.max().to_numpy(),
            }
        )
        table["best"] = table["max"] if maximize else table["min"]
        tables[name] = table[table["n"] > 0].reset_index(drop=True)
    return tables


def marginal_effect_ranges(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Spread of the per-level means of each parameter, largest first.

    Args:
        tables: Output of :func:`marginal_effects`.

    Returns:
        Param -> max mean minus min mean over its levels.
    """
    ranges = {name: float(t["mean"].max() - t["mean"].min()) for name, t in tables.items()}
    return pd.Series(ranges, dtype=float).sort_values(ascending=False)


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
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
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


def family_comparison(study: optuna.Study, param: str = "cell") -> pd.DataFrame | None:
    """Best and median metric per model family (the ``cell`` parameter).

    Args:
        study: The study; its first objective is compared.
        param: The parameter naming the family.

    Returns:
        One row per family: ``family``, ``completed``, ``pruned``, ``best``, ``median``,
        ``best_trial``; ``None`` when no trial has ``param``.
    """
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    trials = [t for t in study.get_trials(deepcopy=False) if param in t.params]
    if not trials:
        return None
    completed_numbers = {t.number for t in completed_trials(study)}
    rows = []
    for family in sorted({str(t.params[param]) for t in trials}):
        members = [t for t in trials if str(t.params[param]) == family]
        done = [t for t in members if t.number in completed_numbers]
        values = [t.values[0] for t in done]
        best_trial = (max if maximize else min)(done, key=lambda t: t.values[0]) if done else None
        rows.append(
            {
                "family": family,
                "completed": len(done),
                "pruned": sum(t.state == TrialState.PRUNED for t in members),
                "best": max(values) if values and maximize else min(values, default=np.nan),
                "median": float(np.median(values)) if values else np.nan,
                "best_trial": best_trial.number if best_trial else None,
            }
        )
    return pd.DataFrame(rows)


def _first_objective_target(study: optuna.Study, lower_is_better: bool) -> Callable | None:
    if len(study.directions) == 1:
        return None
    sign = -1.0 if lower_is_better and study.directions[0].name == "MAXIMIZE" else 1.0
    return lambda trial: sign * trial.values[0]


def param_importances(
    study: optuna.Study,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Parameter importances of the first objective from PED-ANOVA and fANOVA.

    Args:
        study: The study.

    Returns:
        ``(importances, notes)``: evaluator name -> {param: importance} for each evaluator
        that produced a meaningful answer, and one note for each that did not.
    """
    n_completed = len(completed_trials(study))
    varying = [
        name
        for name, distribution in _param_distributions(study).items()
        if not distribution.single()
    ]
    if n_completed < MIN_TRIALS_FOR_IMPORTANCE:
        return {}, [
            f"Importances not computed: {n_completed} completed trials, "
            f"need at least {MIN_TRIALS_FOR_IMPORTANCE}."
        ]
    if not varying:
        return {}, ["Importances not computed: no parameter takes more than one value."]
    evaluators = {
        # PED-ANOVA assumes lower targets are better when a target is given, hence the sign.
        "PED-ANOVA": (optuna.importance.PedAnovaImportanceEvaluator(), True),
        "fANOVA": (optuna.importance.FanovaImportanceEvaluator(seed=0), False),
    }
    importances: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    for label, (evaluator, lower_is_better) in evaluators.items():
        target = _first_objective_target(study, lower_is_better)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, params=varying, target=target
                )
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                notes.append(f"{label} importances not computed: {exc}")
                continue
        equal = [str(w.message) for w in caught if "will be equal" in str(w.message)]
        if equal:
            notes.append(f"{label} importances not computed: {equal[0]}")
            continue
        importances[label] = {name: float(value) for name, value in result.items()}
    if len(varying) == 1:
        notes.append(f"Only one parameter varies ({varying[0]}), so its importance is trivially 1.")
    return importances, notes


def most_important_pairs(importances: dict[str, dict[str, float]], k: int = 3) -> list[tuple]:
    """Pairs among the ``k`` most important parameters, most important first.

    Uses the mean rank over the evaluators, so a parameter both rank highly leads.

    Args:
        importances: Output of :func:`param_importances`.
        k: How many top parameters to pair up.

    Returns:
        Up to ``k * (k - 1) / 2`` parameter pairs.
    """
    if not importances:
        return []
    ranks = pd.DataFrame(importances).rank(ascending=False).mean(axis=1).sort_values()
    top = list(ranks.index[:k])
    return [(a, b) for i, a in enumerate(top) for b in top[i + 1 :]]


def build_report_data(study: optuna.Study) -> ReportData:
    """Compute everything a report shows, noting what could not be computed.

    Args:
        study: The study.

    Returns:
        The report's data.
    """
    names = metric_names(study)
    data = ReportData(
        study_name=study.study_name,
        metric=names[0],
        metric_names=names,
        maximize=study.directions[0] == optuna.study.StudyDirection.MAXIMIZE,
        summary=summarize_study(study),
    )
    n_completed = len(completed_trials(study))
    if n_completed == 0:
        data.notes.append("No completed trials yet: only the trial counts can be shown.")
        return data
    if data.summary["n_with_epochs"] == 0:
        data.notes.append(
            "Pruner savings not computed: no trial reported per-epoch values or epochs_run."
        )
    if data.summary["n_with_train_seconds"] == 0:
        data.notes.append("Training time not shown: no trial records train_seconds.")
    data.importances, notes = param_importances(study)
    data.notes.extend(notes)
    data.marginal = marginal_effects(study)
    if not data.marginal:
        data.notes.append("Marginal effect tables not computed: the trials have no parameters.")
    for cost in COST_ATTRIBUTES:
        analysis = cost_quality(study, cost)
        if analysis is None:
            data.notes.append(f"Cost vs quality by {cost} not shown: no trial records {cost}.")
        else:
            data.cost_quality[cost] = analysis
    if len(study.directions) > 1:
        data.pareto_front = sorted(t.number for t in study.best_trials)
    data.families = family_comparison(study)
    if data.families is None:
        data.notes.append("Model family comparison not shown: the trials have no 'cell' param.")
    return data
