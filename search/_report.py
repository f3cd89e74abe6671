"""What a study report says, as plain data: no HTML, no figures.

Every function here takes an :class:`optuna.Study` (or a frame built from one) and returns
dicts, DataFrames or trial numbers, so tests can check the analysis without rendering it.
:func:`build_report_data` gathers all of it, plus a note for each part that could not be
computed and why, which :mod:`search._report_html` then renders. The trial frames live in
:mod:`search._report_trials`, marginal effects and importances in
:mod:`search._report_effects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from search._report_cost import (
    POINTS_TOLERANCE,
    CostQuality,
    cheapest_within,
    cost_quality,
    non_dominated,
    points_tolerance,
)
from search._report_defaults import DEFAULT_TOP_K
from search._report_effects import (
    MIN_TRIALS_FOR_IMPORTANCE,
    MarginalEffect,
    importance_disagreements,
    marginal_effect_details,
    param_importances,
    ranked_params,
)
from search._report_trials import (
    COST_ATTRIBUTES,
    baseline_trial,
    common_epoch,
    completed_frame,
    completed_trials,
    epochs_run,
    maximizes,
    metric_names,
    param_distributions,
    split_usable_params,
    study_at_epoch,
    trial_frame,
)
from search.errors import ConfigError

_TRAINED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class ReportOptions:
    """What a report includes beyond the defaults.

    Attributes:
        top_k: Marginal-effect plots for this many of the most important parameters.
        include_pruned: Count pruned trials in the marginal effects, at the value they last
            reported (labelled so in the report); otherwise completed trials only.
    """

    top_k: int = DEFAULT_TOP_K
    include_pruned: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError(
                f"top_k (--top-k) must be a whole number of at least 1, but got {self.top_k!r}"
            )


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
        options: The options the report was built with.
        usable_params: Params with at least two distinct values in the completed trials,
            the only ones any figure plots.
        single_valued: Param -> its one value, for params that never varied.
        effects: Param -> :class:`MarginalEffect` over the trials in ``effect_frame``.
        effect_frame: The trials the marginal effects use (completed, plus pruned ones at
            their last value when ``options.include_pruned``).
        ranked: Usable params, most important first.
        disagreements: Sentences about evaluators that rank a top parameter differently.
        baseline: Number of the ``baseline = true`` trial, or ``None``.
        common_epoch: Set when too few trials completed (fewer than
            :data:`MIN_TRIALS_FOR_IMPORTANCE`) but enough reached one epoch: the latest
            such epoch; importances, marginal effects and parameter plots then compare every
            trial that reached it at its value there (``--include-pruned`` not given).
        analysis_study: Those trials as an in-memory study (for Optuna's evaluators and
            plots), or ``None`` when the analyses use the study's completed trials.
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
    options: ReportOptions = field(default_factory=ReportOptions)
    usable_params: list[str] = field(default_factory=list)
    single_valued: dict[str, Any] = field(default_factory=dict)
    effects: dict[str, MarginalEffect] = field(default_factory=dict)
    effect_frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    ranked: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    baseline: int | None = None
    common_epoch: int | None = None
    analysis_study: optuna.Study | None = None

    @property
    def top_params(self) -> list[str]:
        """The ``options.top_k`` most important usable params."""
        return self.ranked[: self.options.top_k]


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


def build_report_data(study: optuna.Study, options: ReportOptions | None = None) -> ReportData:
    """Compute everything a report shows, noting what could not be computed.

    Args:
        study: The study.
        options: What to include; defaults to :class:`ReportOptions()`.

    Returns:
        The report's data.
    """
    options = options or ReportOptions()
    names = metric_names(study)
    baseline = baseline_trial(study)
    data = ReportData(
        study_name=study.study_name,
        metric=names[0],
        metric_names=names,
        maximize=maximizes(study),
        summary=summarize_study(study),
        options=options,
        baseline=baseline.number if baseline else None,
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
    analysed = study
    if n_completed < MIN_TRIALS_FOR_IMPORTANCE and not options.include_pruned:
        data.common_epoch = common_epoch(study, MIN_TRIALS_FOR_IMPORTANCE)
    if data.common_epoch is not None:
        analysed = data.analysis_study = study_at_epoch(study, data.common_epoch)
        data.effect_frame = trial_frame(study, at_epoch=data.common_epoch)
        data.usable_params, data.single_valued = split_usable_params(data.effect_frame)
    else:
        data.effect_frame = trial_frame(study, include_pruned=options.include_pruned)
        data.usable_params, data.single_valued = split_usable_params(completed_frame(study))
    data.importances, notes = param_importances(analysed)
    data.notes.extend(notes)
    data.effects = marginal_effect_details(
        data.effect_frame, param_distributions(study), data.maximize
    )
    data.marginal = {name: effect.table for name, effect in data.effects.items()}
    if not data.marginal:
        data.notes.append("Marginal effect tables not computed: the trials have no parameters.")
    usable_tables = {k: v for k, v in data.marginal.items() if k in data.usable_params}
    data.ranked = [p for p in ranked_params(data.importances, usable_tables) if p in usable_tables]
    data.disagreements = importance_disagreements(data.importances, len(analysed.trials))
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


__all__ = [
    "MIN_TRIALS_FOR_IMPORTANCE",
    "POINTS_TOLERANCE",
    "CostQuality",
    "ReportData",
    "ReportOptions",
    "build_report_data",
    "cheapest_within",
    "cost_quality",
    "family_comparison",
    "non_dominated",
    "points_tolerance",
    "summarize_study",
]
