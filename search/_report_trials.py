"""The trials a report reads, as frames: which ones count, their params, costs and baseline.

Everything here reads only what the study stores (trial states, values, params,
intermediate values and user attributes such as ``baseline``, ``train_seconds``,
``device``), never the task that produced it, so imported and foreign studies work too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search._reference import baseline_of

#: Cost columns the cost-vs-quality analysis looks for among the trial user attributes.
COST_ATTRIBUTES = ("train_seconds", "n_parameters")

_ANALYSED = (TrialState.COMPLETE, TrialState.PRUNED)


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


def maximizes(study: optuna.Study) -> bool:
    """Whether a larger first objective is better."""
    return study.directions[0] == optuna.study.StudyDirection.MAXIMIZE


def completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials of ``study`` whose objective values are all finite."""
    return [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.values is not None and all(math.isfinite(v) for v in trial.values)
    ]


def last_reported_value(trial: FrozenTrial) -> float | None:
    """The value a trial reported at its last step, or ``None`` if none is finite."""
    if not trial.intermediate_values:
        return None
    value = trial.intermediate_values[max(trial.intermediate_values)]
    return float(value) if math.isfinite(value) else None


def trial_frame(
    study: optuna.Study, include_pruned: bool = False, at_epoch: int | None = None
) -> pd.DataFrame:
    """One row per trial the analysis uses: number, value, pruned, params, costs.

    Args:
        study: The study.
        include_pruned: Also use pruned trials, at the value they last reported (for a
            maximized metric this flatters nothing: a pruned trial stopped early because
            it was behind, and its last value is what it had reached).
        at_epoch: Instead, every trial that reached this epoch (from 1), completed or
            pruned, at the value it reported there (see :func:`common_epoch`); ``pruned``
            is then false throughout, as every value is at the same point of training.

    Returns:
        Columns ``number``, ``value`` (first objective), ``pruned``, ``params_<name>`` for
        every parameter, and the :data:`COST_ATTRIBUTES` the trials record (NaN if not).
    """
    rows: list[dict[str, Any]] = []
    trials: list[tuple[FrozenTrial, float, bool]] = (
        [(t, value, False) for t, value in values_at_epoch(study, at_epoch)]
        if at_epoch is not None
        else [(t, t.values[0], False) for t in completed_trials(study)]
    )
    if include_pruned and at_epoch is None:
        for trial in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)):
            value = last_reported_value(trial)
            if value is not None:
                trials.append((trial, value, True))
    for trial, value, pruned in sorted(trials, key=lambda item: item[0].number):
        row: dict[str, Any] = {"number": trial.number, "value": value, "pruned": pruned}
        row.update({f"params_{name}": v for name, v in trial.params.items()})
        for cost in COST_ATTRIBUTES:
            cost_value = trial.user_attrs.get(cost)
            row[cost] = float(cost_value) if isinstance(cost_value, (int, float)) else np.nan
        rows.append(row)
    columns = None if rows else ["number", "value", "pruned", *COST_ATTRIBUTES]
    return pd.DataFrame(rows, columns=columns)


def common_epoch(study: optuna.Study, minimum: int) -> int | None:
    """The latest epoch (from 1) that at least ``minimum`` trials reported, pruned ones
    included, or ``None`` (none did, or the study is multi-objective and not pruned).

    A study whose pruner stopped most trials has too few completed trials to say which
    parameters matter, but many trials trained its first epochs: compared at one epoch,
    they stand on the same footing, unlike a pruned trial's early value beside a finished
    trial's best.
    """
    if len(study.directions) != 1:
        return None
    reached: dict[int, int] = {}
    for trial in study.get_trials(deepcopy=False, states=_ANALYSED):
        for step, value in trial.intermediate_values.items():
            if math.isfinite(value):
                reached[step] = reached.get(step, 0) + 1
    steps = [step for step, count in reached.items() if count >= minimum]
    return max(steps) + 1 if steps else None


def values_at_epoch(study: optuna.Study, epoch: int) -> list[tuple[FrozenTrial, float]]:
    """Completed and pruned trials that reported epoch ``epoch`` (from 1), with that value."""
    return [
        (trial, float(trial.intermediate_values[epoch - 1]))
        for trial in study.get_trials(deepcopy=False, states=_ANALYSED)
        if math.isfinite(trial.intermediate_values.get(epoch - 1, math.nan))
    ]


def study_at_epoch(study: optuna.Study, epoch: int) -> optuna.Study:
    """An in-memory study of :func:`values_at_epoch`'s trials as completed trials valued
    there, for Optuna's importance evaluators and plots (trial numbers are its own)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        copy = optuna.create_study(direction=study.directions[0])
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(
        [
            optuna.trial.create_trial(
                params=trial.params, distributions=trial.distributions, value=value
            )
            for trial, value in values_at_epoch(study, epoch)
        ]
    )
    return copy


def completed_frame(study: optuna.Study) -> pd.DataFrame:
    """:func:`trial_frame` of the completed trials only."""
    return trial_frame(study, include_pruned=False)


def epochs_run(trial: FrozenTrial) -> int | None:
    """Epochs a trial trained: its ``epochs_run`` attribute, else its last reported step + 1."""
    recorded = trial.user_attrs.get("epochs_run")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    if trial.intermediate_values:
        return max(trial.intermediate_values) + 1
    return None


def param_distributions(study: optuna.Study) -> dict[str, BaseDistribution]:
    """Every parameter any trial of the study used, with its (last seen) distribution."""
    distributions: dict[str, BaseDistribution] = {}
    for trial in study.get_trials(deepcopy=False):
        distributions.update(trial.distributions)
    return distributions


def split_usable_params(frame: pd.DataFrame) -> tuple[list[str], dict[str, Any]]:
    """Parameters with at least two distinct values in ``frame``, and the single-valued rest.

    A parameter with one value cannot be plotted against anything (Optuna draws a blank
    contour and warns "unique value length is less than 2"), nor can it be important.

    Args:
        frame: Output of :func:`trial_frame`.

    Returns:
        ``(usable, single)``: usable names in first-seen order, and name -> the one value
        of each parameter that never varied.
    """
    usable: list[str] = []
    single: dict[str, Any] = {}
    for column in frame.columns:
        if not column.startswith("params_"):
            continue
        values = frame[column].dropna()
        name = column.removeprefix("params_")
        if values.nunique() >= 2:
            usable.append(name)
        elif len(values):
            value = values.iloc[0]
            # Plain Python values, so messages read "batch_size=16", not "np.int64(16)".
            single[name] = value.item() if isinstance(value, np.generic) else value
    return usable, single


def baseline_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's baseline trial (see :func:`search._reference.baseline_of`), or ``None``."""
    return baseline_of(study.get_trials(deepcopy=False))


def test_result(study: optuna.Study, trial_number: int, metric: str) -> float | None:
    """The stored test score (``hpsearch best --evaluate-test``) of a trial, if any."""
    results = study.user_attrs.get("test_results")
    entry = results.get(str(trial_number)) if isinstance(results, dict) else None
    value = entry.get(metric) if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def compute_hours(study: optuna.Study) -> dict[str, float]:
    """Training hours by device kind (``GPU``, ``CPU``, ``unknown device``).

    Sums the ``train_seconds`` attribute of every trial that records it (pruned and failed
    ones trained too); the kind comes from the trial's ``device`` attribute.
    """
    hours: dict[str, float] = {}
    for trial in study.get_trials(deepcopy=False):
        seconds = trial.user_attrs.get("train_seconds")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            continue
        device = str(trial.user_attrs.get("device", ""))
        kind = "GPU" if device.startswith("cuda") else "CPU" if device else "unknown device"
        hours[kind] = hours.get(kind, 0.0) + float(seconds) / 3600.0
    return hours
