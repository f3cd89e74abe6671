"""Every figure of a study report, built only from what :class:`ReportData` says is drawable.

A figure never plots a parameter with fewer than two distinct values in the completed
trials (``data.usable_params``); when too few are usable, the report says so in a sentence.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from search._report import ReportData
from search._report_axes import (
    integer_ticks,
    plotly_ticks,
    set_matplotlib_ticks,
    tidy_matplotlib_figure,
    tidy_plotly_figure,
)
from search._report_effects import most_important_pairs
from search._report_figure import (
    CHOSEN_COLOR,
    COMPLETE_COLOR,
    FRONT_COLOR,
    PRUNED_COLOR,
    Figure,
)
from search._report_grids import marginal_figure, slice_figure
from search._report_trials import completed_trials, param_distributions


def _first_value(trial: FrozenTrial) -> float:
    return trial.values[0]


def _target_kwargs(study: optuna.Study, data: ReportData) -> dict[str, Any]:
    # Optuna's plots need an explicit target for multi-objective studies; single-objective
    # ones get the same picture either way but keep Optuna's direction-aware colour scale.
    if len(study.directions) > 1:
        return {"target": _first_value, "target_name": data.metric}
    return {"target_name": data.metric}


def _optuna_figure(
    name: str,
    section: str,
    plot: str,
    study: optuna.Study,
    distributions: dict[str, BaseDistribution],
    **kwargs: Any,
) -> Figure:
    """Pair an ``optuna.visualization`` plot with its matplotlib twin, ticks made readable."""

    def draw_png() -> Any:
        import optuna.visualization.matplotlib as optuna_matplotlib

        axes = getattr(optuna_matplotlib, plot)(study, **kwargs)
        figure = np.ravel(axes)[0].figure
        tidy_matplotlib_figure(figure, distributions)
        return figure

    figure = getattr(optuna.visualization, plot)(study, **kwargs)
    tidy_plotly_figure(figure, distributions)
    return Figure(name, section, figure, draw_png)


def _learning_curves(study: optuna.Study, data: ReportData) -> Figure | None:
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.intermediate_values and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    if not trials:
        return None
    last_step = max(max(t.intermediate_values) for t in trials)
    epoch_ticks = [float(t) for t in integer_ticks(0, last_step)]
    figure = go.Figure()
    for trial in trials:
        steps = sorted(trial.intermediate_values)
        values = [trial.intermediate_values[s] for s in steps]
        pruned = trial.state == TrialState.PRUNED
        figure.add_trace(
            go.Scatter(
                x=steps,
                y=values,
                mode="lines+markers",
                name=f"trial {trial.number} ({'pruned' if pruned else 'complete'})",
                line={
                    "color": PRUNED_COLOR if pruned else COMPLETE_COLOR,
                    "dash": "dot" if pruned else "solid",
                    "width": 1,
                },
                # Pruned trials end in a cross, so where the pruner stopped them stands out.
                marker={
                    "size": [4] * (len(steps) - 1) + [10 if pruned else 4],
                    "symbol": ["circle"] * (len(steps) - 1) + ["x" if pruned else "circle"],
                },
                legendgroup="pruned" if pruned else "complete",
                showlegend=False,
            )
        )
    for label, color, dash in (
        ("complete", COMPLETE_COLOR, "solid"),
        ("pruned", PRUNED_COLOR, "dot"),
    ):
        figure.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="lines", name=label, line={"color": color, "dash": dash}
            )
        )
    figure.update_layout(
        title="Learning curves (pruned trials dotted grey, ending in a cross)",
        xaxis={"title": "epoch", **plotly_ticks((epoch_ticks, [f"{t:g}" for t in epoch_ticks]))},
        yaxis_title=f"intermediate {data.metric}",
    )

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 5))
        for trial in trials:
            steps = sorted(trial.intermediate_values)
            values = [trial.intermediate_values[s] for s in steps]
            pruned = trial.state == TrialState.PRUNED
            color = PRUNED_COLOR if pruned else COMPLETE_COLOR
            ax.plot(steps, values, color=color, linestyle=":" if pruned else "-", linewidth=1)
            if pruned:
                ax.plot(steps[-1], values[-1], marker="x", color=color)
        set_matplotlib_ticks(ax.xaxis, (epoch_ticks, [f"{t:g}" for t in epoch_ticks]))
        ax.set(title="Learning curves (pruned: dotted grey)", xlabel="epoch", ylabel=data.metric)
        return fig

    return Figure("learning-curves", "history", figure, draw_png)


def _importance_figure(data: ReportData) -> Figure:
    evaluators = list(data.importances)
    figure = make_subplots(rows=1, cols=len(evaluators), subplot_titles=evaluators)
    for column, evaluator in enumerate(evaluators, start=1):
        ranked = sorted(data.importances[evaluator].items(), key=lambda item: item[1])
        figure.add_trace(
            go.Bar(
                x=[value for _, value in ranked],
                y=[name for name, _ in ranked],
                orientation="h",
                name=evaluator,
                showlegend=False,
            ),
            row=1,
            col=column,
        )
    n_params = max(len(v) for v in data.importances.values())
    figure.update_layout(title=f"Hyperparameter importance for {data.metric}")

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(
            1, len(evaluators), figsize=(5 * len(evaluators), 1.5 + 0.3 * n_params)
        )
        for ax, evaluator in zip(np.ravel(axes), evaluators, strict=True):
            ranked = sorted(data.importances[evaluator].items(), key=lambda item: item[1])
            ax.barh([name for name, _ in ranked], [value for _, value in ranked])
            ax.set_title(evaluator)
        fig.tight_layout()
        return fig

    return Figure("importance", "importance", figure, draw_png, height=200 + 25 * n_params)


def _cost_quality_figure(data: ReportData, cost: str) -> Figure:
    analysis = data.cost_quality[cost]
    frame = analysis.frame.sort_values(cost)
    front = frame[frame["on_front"]]
    chosen = frame[frame["number"] == analysis.cheapest_within_tolerance]
    best = frame[frame["number"] == analysis.best]
    same = analysis.best == analysis.cheapest_within_tolerance
    chosen_name = f"cheapest within {analysis.tolerance:g}" + (" (= best)" if same else "")
    best_name = f"best (also cheapest within {analysis.tolerance:g})" if same else "best"
    log_x = bool(frame[cost].min() > 0 and frame[cost].max() / frame[cost].min() >= 100)
    figure = go.Figure(
        [
            go.Scatter(
                x=frame[cost],
                y=frame["value"],
                mode="markers",
                name="trials",
                text=[f"trial {n}" for n in frame["number"]],
                marker={"color": COMPLETE_COLOR, "opacity": 0.6},
            ),
            go.Scatter(
                x=front[cost],
                y=front["value"],
                mode="lines+markers",
                name="Pareto front",
                text=[f"trial {n}" for n in front["number"]],
                line={"shape": "hv", "color": FRONT_COLOR},
            ),
            # A large open diamond drawn first, then the star on top: when both are one
            # trial, the star sits inside the diamond and neither hides the other.
            go.Scatter(
                x=chosen[cost],
                y=chosen["value"],
                mode="markers",
                name=chosen_name,
                marker={
                    "symbol": "diamond-open",
                    "size": 22,
                    "color": CHOSEN_COLOR,
                    "line": {"width": 3},
                },
            ),
            go.Scatter(
                x=best[cost],
                y=best["value"],
                mode="markers",
                name=best_name,
                marker={"symbol": "star", "size": 13, "color": "gold", "line": {"width": 1}},
            ),
        ]
    )
    figure.update_layout(
        title=f"{data.metric} vs {cost}",
        xaxis={"title": cost, "type": "log" if log_x else "linear"},
        yaxis_title=data.metric,
    )

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        from search._report_axes import log_ticks, tick_label

        fig, ax = plt.subplots(figsize=(8, 5))
        ax.scatter(frame[cost], frame["value"], alpha=0.6, color=COMPLETE_COLOR, label="trials")
        ax.step(front[cost], front["value"], where="post", color=FRONT_COLOR, label="front")
        ax.scatter(
            chosen[cost],
            chosen["value"],
            marker="D",
            s=260,
            facecolors="none",
            edgecolors=CHOSEN_COLOR,
            linewidths=2.5,
            label=chosen_name,
        )
        ax.scatter(
            best[cost], best["value"], marker="*", s=160, color="gold", ec="k", label=best_name
        )
        if log_x:
            ax.set_xscale("log")
            ticks = log_ticks(float(frame[cost].min()), float(frame[cost].max()))
            set_matplotlib_ticks(ax.xaxis, (ticks, [tick_label(t) for t in ticks]))
        ax.set(title=f"{data.metric} vs {cost}", xlabel=cost, ylabel=data.metric)
        ax.legend()
        return fig

    return Figure(f"cost-{cost}", "cost", figure, draw_png)


def _family_figure(study: optuna.Study, data: ReportData) -> Figure:
    by_family: dict[str, list[float]] = {}
    for trial in completed_trials(study):
        if "cell" in trial.params:
            by_family.setdefault(str(trial.params["cell"]), []).append(trial.values[0])
    families = sorted(by_family)
    figure = go.Figure(
        [go.Box(y=by_family[f], name=f, boxpoints="all", jitter=0.3) for f in families]
    )
    figure.update_layout(title=f"{data.metric} by model family", yaxis_title=data.metric)

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        ax.boxplot([by_family[f] for f in families], tick_labels=families)
        ax.set(title=f"{data.metric} by model family", ylabel=data.metric)
        return fig

    return Figure("families", "families", figure, draw_png)


def _pairs(data: ReportData) -> list[tuple[str, str]]:
    pairs = [
        (a, b)
        for a, b in most_important_pairs(data.importances)
        if a in data.usable_params and b in data.usable_params
    ]
    if not pairs and len(data.ranked) >= 2:
        pairs = [(data.ranked[0], data.ranked[1])]
    return pairs


def _analysed_trials(data: ReportData) -> str:
    if data.common_epoch is not None:
        return f"the trials that reached epoch {data.common_epoch}"
    return "the completed trials"


def _usable_sentence(data: ReportData, what: str, needed: int) -> str:
    usable = ", ".join(data.usable_params) or "none"
    single = ", ".join(f"{k}={v!r}" for k, v in data.single_valued.items())
    params = "parameter" if needed == 1 else "parameters"
    return (
        f"{what} not drawn: they need at least {needed} {params} with two or more "
        f"distinct values in {_analysed_trials(data)}; usable: {usable}"
        + (f" (single-valued: {single})." if single else ".")
    )


def build_figures(study: optuna.Study, data: ReportData) -> tuple[list[Figure], list[str]]:
    """All figures the data supports, and a note for each that could not be drawn."""
    figures: list[Figure] = []
    notes: list[str] = []
    if not completed_trials(study):
        return figures, notes
    target = _target_kwargs(study, data)
    distributions = param_distributions(study)
    optuna_figure = functools.partial(_optuna_figure, study=study, distributions=distributions)
    # The parameter plots read the trials the analyses use (at the common epoch, if any).
    param_figure = functools.partial(
        _optuna_figure, study=data.analysis_study or study, distributions=distributions
    )
    builders: list[tuple[str, Callable[[], Figure | None]]] = [
        (
            "optimization history",
            lambda: optuna_figure("history", "history", "plot_optimization_history", **target),
        ),
        ("learning curves", lambda: _learning_curves(study, data)),
    ]
    if data.importances:
        builders.append(("importance", lambda: _importance_figure(data)))
    pairs = _pairs(data)
    if not pairs:
        notes.append(_usable_sentence(data, "Contour and parallel-coordinate plots", 2))
    for first, second in pairs:
        builders.append(
            (
                f"contour {first} x {second}",
                functools.partial(
                    param_figure,
                    f"contour-{first}-{second}",
                    "contour",
                    "plot_contour",
                    params=[first, second],
                    **target,
                ),
            )
        )
    if data.usable_params:
        builders.append(("slice", lambda: slice_figure(data, distributions)))
        builders.append(("marginal effects", lambda: marginal_figure(data)))
    else:
        notes.append(_usable_sentence(data, "Slice and marginal-effect plots", 1))
    if len(data.usable_params) >= 2:
        builders.append(
            (
                "parallel coordinates",
                lambda: param_figure(
                    "parallel",
                    "parallel",
                    "plot_parallel_coordinate",
                    params=data.ranked,
                    **target,
                ),
            )
        )
    for cost in data.cost_quality:
        builders.append(
            (f"{data.metric} vs {cost}", functools.partial(_cost_quality_figure, data, cost))
        )
    if len(study.directions) in (2, 3):
        builders.append(
            (
                "Pareto front",
                lambda: optuna_figure(
                    "pareto-front", "pareto", "plot_pareto_front", target_names=data.metric_names
                ),
            )
        )
    elif len(study.directions) > 3:
        notes.append("Pareto front not drawn: it can be plotted for 2 or 3 objectives only.")
    if data.families is not None:
        builders.append(("model families", lambda: _family_figure(study, data)))
    for label, build in builders:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                figure = build()
        # A chart that cannot be drawn for an odd (e.g. imported) study must not cost the
        # reader the rest of the report; the note says what is missing and why.
        except Exception as exc:  # noqa: BLE001
            notes.append(f"Figure '{label}' not drawn: {type(exc).__name__}: {exc}")
            continue
        if figure is not None:
            figures.append(figure)
    return figures, notes
