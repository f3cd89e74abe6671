"""The short plain-text summary at the top of a report, to paste into a paper or a chat."""

from __future__ import annotations

import optuna

from search._derived import DERIVED_ATTR, derived_lines
from search._report import MIN_TRIALS_FOR_IMPORTANCE, ReportData
from search._report_effects import best_level
from search._report_trials import baseline_trial, compute_hours, test_result

#: Parameters the summary names with their best level.
N_SUMMARY_PARAMS = 3


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _with_test(study: optuna.Study, data: ReportData, number: int, value: float) -> str:
    test = test_result(study, number, data.metric)
    suffix = f", test {_value(test)}" if test is not None else ", test not evaluated"
    return f"val {data.metric} {_value(value)}{suffix}"


def _result_line(study: optuna.Study, data: ReportData) -> str | None:
    best = data.summary["best_trial"]
    if best is None:
        return None
    line = f"Best: trial {best}, " + _with_test(study, data, best, data.summary["best_value"])
    baseline = baseline_trial(study)
    if baseline is None:
        return line + "; no baseline trial in this study."
    if baseline.state != optuna.trial.TrialState.COMPLETE or baseline.values is None:
        return line + f"; the baseline, trial {baseline.number}, did not complete."
    base_value = baseline.values[0]
    gain = data.summary["best_value"] - base_value
    return (
        f"{line}; baseline (trial {baseline.number}) "
        f"{_with_test(study, data, baseline.number, base_value)}; difference {gain:+.4g}."
    )


def _trials_line(data: ReportData) -> str:
    states = data.summary["states"]
    parts = [f"{data.summary['n_trials']} trials run"]
    parts += [f"{states[s]} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL") if s in states]
    return ", ".join(parts) + "."


def _compute_line(study: optuna.Study, data: ReportData) -> str | None:
    hours = compute_hours(study)
    parts = [f"{h:.2f} {kind}-hours" for kind, h in sorted(hours.items())]
    saved = data.summary["epochs_saved_by_pruner"]
    if saved is not None and data.summary["epochs_full_budget"]:
        full = data.summary["epochs_full_budget"]
        parts.append(f"pruning saved {saved} of {full} epochs ({saved / full:.0%})")
    if not parts:
        return None
    return "Compute: " + "; ".join(parts) + " (training time, from train_seconds)."


def _common_epoch_line(data: ReportData) -> str | None:
    if data.common_epoch is None:
        return None
    complete = data.summary["states"].get("COMPLETE", 0)
    return (
        f"Compared at epoch {data.common_epoch}: {len(data.effect_frame)} trials reached it, "
        f"pruned ones included; {complete} completed, too few (need "
        f"{MIN_TRIALS_FOR_IMPORTANCE}) to compare final values, so the importances, marginal "
        "effects and parameter plots use each trial's value at that epoch."
    )


def _top_line(data: ReportData) -> str | None:
    top = [p for p in data.ranked[:N_SUMMARY_PARAMS] if p in data.marginal]
    if not top:
        return None
    how = "by importance" if data.importances else "by spread of their mean"
    if data.common_epoch is not None:
        how += f" at epoch {data.common_epoch}"
    levels = [f"{p} (best level {best_level(data.marginal[p], data.maximize)})" for p in top]
    return f"Most important parameters {how}: {', '.join(levels)}."


def _diminishing_line(study: optuna.Study, data: ReportData) -> str | None:
    cost = next((c for c in ("train_seconds", "n_parameters") if c in data.cost_quality), None)
    if cost is None:
        return None
    analysis = data.cost_quality[cost]
    frame = analysis.frame.set_index("number")
    best, chosen = analysis.best, analysis.cheapest_within_tolerance
    if best == chosen:
        return (
            f"Diminishing returns: none seen by {cost}; the best trial is also the cheapest "
            f"within {analysis.tolerance:g} of it."
        )
    share = frame.loc[chosen, cost] / frame.loc[best, cost] if frame.loc[best, cost] else 0.0
    return (
        f"Diminishing returns: trial {chosen} reaches {frame.loc[chosen, 'value']:.4g}, within "
        f"{analysis.tolerance:g} of the best, at {share:.0%} of the best trial's {cost} "
        f"({frame.loc[chosen, cost]:.4g} vs {frame.loc[best, cost]:.4g})."
    )


def _derived_line(study: optuna.Study) -> str | None:
    derived = study.user_attrs.get(DERIVED_ATTR)
    if not derived:
        return None
    return "Space fitted to the data: " + "; ".join(derived_lines(derived)) + "."


def summary_lines(study: optuna.Study, data: ReportData) -> list[str]:
    """The report's summary as plain sentences, one per line.

    Args:
        study: The study the data was computed from.
        data: Output of :func:`search._report.build_report_data`.

    Returns:
        Lines naming the study, the best result against the baseline (val and, where
        evaluated, test), the trial counts, compute hours and the epochs pruning saved, the
        top 3 parameters with their best levels, the point of diminishing returns, and the
        dimensions fitted to the data when the study was created.
    """
    direction = "maximize" if data.maximize else "minimize"
    lines: list[str | None] = [
        f"Study {data.study_name} ({data.metric}, {direction}).",
        _result_line(study, data),
        _trials_line(data),
        _compute_line(study, data),
        _common_epoch_line(data),
        _top_line(data),
        _diminishing_line(study, data),
        _derived_line(study),
    ]
    return [line for line in lines if line]
