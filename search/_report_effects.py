"""Which parameters matter and how: marginal effects per level, importances, their agreement."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution
from scipy import stats

from search._report_trials import (
    completed_trials,
    maximizes,
    param_distributions,
    split_usable_params,
    trial_frame,
)

#: Below this many completed trials the importance evaluators only fit noise; PED-ANOVA's
#: default top quantile (10 %) would hold a single trial.
MIN_TRIALS_FOR_IMPORTANCE = 8

#: A parameter with up to this many distinct values gets one row per value (the table an
#: old one-factor sweep had); only beyond it are values grouped into quantile bins.
MAX_LEVELS = 12

#: Quantile bins for a parameter with more than :data:`MAX_LEVELS` distinct values.
N_BINS = 6

#: Confidence of the interval around each level's mean.
CONFIDENCE = 0.95

#: How many of the most important parameters the rank agreement of the evaluators is
#: checked for (and the text summary names).
N_TOP_CHECKED = 3

#: A parameter whose (normalized) importance is below this in every evaluator is noise to
#: all of them; the order among such parameters is not worth a warning.
MIN_IMPORTANCE_SHARE = 0.05


@dataclass
class MarginalEffect:
    """The metric per level of one parameter.

    Attributes:
        table: One row per level, in order: ``level``, ``n``, ``n_pruned``, ``mean``,
            ``ci_low``, ``ci_high`` (the :data:`CONFIDENCE` t-interval of the mean; NaN
            for a level with one trial), ``std``, ``min``, ``max``, ``best``.
        trial_levels: Trial number -> the label of the level it falls in.
        binned: Whether levels are quantile bins rather than single values.
    """

    table: pd.DataFrame
    trial_levels: dict[int, str]
    binned: bool


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values``.

    The t-interval, not a bootstrap: levels often hold 2-5 trials, where a bootstrap's
    interval is far too narrow.

    Returns:
        ``(low, high)``; both NaN for fewer than two values.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return math.nan, math.nan
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * float(
        values.std(ddof=1) / math.sqrt(values.size)
    )
    return mean - half, mean + half


def format_level(value: Any, digits: int = 3) -> str:
    """A level as a reader expects it: ``128``, ``0.001``, ``lstm``, ``True``."""
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number.is_integer() and abs(number) < 1e6:
            return str(int(number))
        return f"{number:.{digits}g}"
    return str(value)


def _levels(
    column: pd.Series, distribution: BaseDistribution | None, max_levels: int, n_bins: int
) -> tuple[pd.Categorical, list[str], bool]:
    """Each row's level as an ordered categorical, the level labels, and whether binned."""
    if isinstance(distribution, CategoricalDistribution):
        present = set(column)
        order = [c for c in distribution.choices if c in present]
        return pd.Categorical(column, categories=order, ordered=True), list(map(str, order)), False
    if column.nunique() <= max_levels:
        order = sorted(column.unique())
        labels = [format_level(v) for v in order]
        return pd.Categorical(column, categories=order, ordered=True), labels, False
    keys = pd.qcut(column.astype(float), q=n_bins, duplicates="drop")
    # Label bins by the values seen in them: qcut's own edges stretch past the data.
    seen = column.astype(float).groupby(keys, observed=False).agg(["min", "max"])
    # Two digits keep a bin label short enough to sit under its panel ("0.00011–0.00024").
    labels = [f"{format_level(lo, 2)}–{format_level(hi, 2)}" for lo, hi in seen.to_numpy()]
    return pd.Categorical(keys), labels, True


def marginal_effect_details(
    frame: pd.DataFrame,
    distributions: dict[str, BaseDistribution],
    maximize: bool,
    max_levels: int = MAX_LEVELS,
    n_bins: int = N_BINS,
) -> dict[str, MarginalEffect]:
    """Metric per level of every parameter in ``frame``; see :class:`MarginalEffect`.

    Args:
        frame: Output of :func:`search._report_trials.trial_frame`.
        distributions: Param -> distribution (categorical choices keep their order).
        maximize: Whether a larger value is better (picks ``best``).
        max_levels: Up to this many distinct values, one row per value.
        n_bins: Beyond that, this many quantile bins.
    """
    effects: dict[str, MarginalEffect] = {}
    for column in [c for c in frame.columns if c.startswith("params_")]:
        name = column.removeprefix("params_")
        rows = frame.dropna(subset=[column])
        if rows.empty:
            continue
        keys, labels, binned = _levels(rows[column], distributions.get(name), max_levels, n_bins)
        codes = np.asarray(keys.codes)
        records = []
        for code, label in enumerate(labels):
            members = rows[codes == code]
            values = members["value"].to_numpy(dtype=float)
            if not values.size:
                continue
            low, high = mean_interval(values)
            records.append(
                {
                    "level": label,
                    "n": int(values.size),
                    "n_pruned": int(members["pruned"].sum()),
                    "mean": float(values.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "std": float(values.std(ddof=1)) if values.size > 1 else math.nan,
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "best": float(values.max() if maximize else values.min()),
                }
            )
        trial_levels = {
            int(number): labels[code]
            for number, code in zip(rows["number"], codes, strict=True)
            if code >= 0
        }
        effects[name] = MarginalEffect(pd.DataFrame(records), trial_levels, binned)
    return effects


def marginal_effects(
    study: optuna.Study,
    max_levels: int = MAX_LEVELS,
    n_bins: int = N_BINS,
    include_pruned: bool = False,
) -> dict[str, pd.DataFrame]:
    """Metric per value (up to ``max_levels`` values) or per quantile bin of every parameter.

    This is the table a one-factor sweep produced, computed from the trials of the study:
    every other parameter varies too, so a level's mean is its average effect over the rest
    of the search, not its effect with everything else held fixed.

    Args:
        study: The study; the first objective is tabulated.
        max_levels: Parameters with up to this many distinct values get one row per value.
        n_bins: Numeric parameters with more are cut into this many bins holding about the
            same number of trials.
        include_pruned: Also count pruned trials, at their last reported value.

    Returns:
        Param -> the ``table`` of :class:`MarginalEffect`.
    """
    frame = trial_frame(study, include_pruned=include_pruned)
    details = marginal_effect_details(
        frame, param_distributions(study), maximizes(study), max_levels, n_bins
    )
    return {name: effect.table for name, effect in details.items()}


def marginal_effect_ranges(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Spread of the per-level means of each parameter, largest first.

    Args:
        tables: Output of :func:`marginal_effects`.

    Returns:
        Param -> max mean minus min mean over its levels.
    """
    ranges = {name: float(t["mean"].max() - t["mean"].min()) for name, t in tables.items()}
    return pd.Series(ranges, dtype=float).sort_values(ascending=False)


def best_level(table: pd.DataFrame, maximize: bool) -> str:
    """The level with the best mean, preferring levels seen in at least two trials."""
    candidates = table[table["n"] >= 2] if (table["n"] >= 2).any() else table
    row = candidates.loc[candidates["mean"].idxmax() if maximize else candidates["mean"].idxmin()]
    return str(row["level"])


def _first_objective_target(study: optuna.Study, lower_is_better: bool) -> Callable | None:
    if len(study.directions) == 1:
        return None
    sign = -1.0 if lower_is_better and study.directions[0].name == "MAXIMIZE" else 1.0
    return lambda trial: sign * trial.values[0]


def param_importances(
    study: optuna.Study,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Parameter importances of the first objective from PED-ANOVA and fANOVA.

    Only parameters with at least two distinct values in the completed trials are scored.

    Args:
        study: The study.

    Returns:
        ``(importances, notes)``: evaluator name -> {param: importance} for each evaluator
        that produced a meaningful answer, and one note for each that did not.
    """
    n_completed = len(completed_trials(study))
    varying, _ = split_usable_params(trial_frame(study))
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


def ranked_params(
    importances: dict[str, dict[str, float]], tables: dict[str, pd.DataFrame]
) -> list[str]:
    """Parameters, most important first: by mean rank over the evaluators that ran, else
    (too few trials for importances) by the spread of their marginal means."""
    if importances:
        ranks = pd.DataFrame(importances).rank(ascending=False).mean(axis=1)
        return list(ranks.sort_values(kind="stable").index)
    return list(marginal_effect_ranges(tables).index)


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
    top = ranked_params(importances, {})[:k]
    return [(a, b) for i, a in enumerate(top) for b in top[i + 1 :]]


def _ordinal(rank: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank if rank < 20 else rank % 10, "th")
    return f"{rank}{suffix}"


def importance_disagreements(
    importances: dict[str, dict[str, float]], n_trials: int, k: int = N_TOP_CHECKED
) -> list[str]:
    """Say where the evaluators disagree on the rank of a top parameter.

    A parameter in the top ``k`` of any evaluator, with an importance of at least
    :data:`MIN_IMPORTANCE_SHARE` in one of them, disagrees when another evaluator ranks it
    two or more places away, or when one ranks it first and another does not: a swap of the
    2nd and 3rd place is noise, a different "most important" parameter is not. It also
    disagrees when one evaluator gives it ten times the importance another does (0.14 vs
    0.0001): one calls it important, the other irrelevant.

    Args:
        importances: Evaluator name -> {param: importance}.
        n_trials: Trials the estimates rest on.
        k: How many top parameters of each evaluator to check.

    Returns:
        One sentence per disagreeing parameter plus one about the trial count; empty when
        they agree or fewer than two evaluators ran.
    """
    if len(importances) < 2:
        return []
    # An evaluator that leaves a parameter out gave it nothing.
    frame = pd.DataFrame(importances).fillna(0.0)
    ranks = frame.rank(ascending=False, method="min").astype(int)
    top = {
        name
        for evaluator in frame
        for name in ranks[evaluator].nsmallest(k).index
        if frame.loc[name].max() >= MIN_IMPORTANCE_SHARE
    }
    lines = []
    for name in sorted(top, key=lambda n: ranks.loc[n].min()):
        row, values = ranks.loc[name], frame.loc[name]
        far_apart = values.min() * 10 < values.max()
        if row.max() - row.min() >= 2 or (row.min() == 1 and row.max() > 1) or far_apart:
            parts = [f"{_ordinal(int(row[e]))} by {e} ({frame.loc[name, e]:.2g})" for e in frame]
            lines.append(f"The importance methods disagree on {name}: {' but '.join(parts)}.")
    if lines:
        lines.append(
            f"These importances rest on {n_trials} trials; run more trials before "
            "trusting the order of the parameters."
        )
    return lines
