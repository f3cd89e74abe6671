"""Multi-panel report figures wrapped into a grid: slices and marginal effects."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from optuna.distributions import BaseDistribution, CategoricalDistribution
from plotly.subplots import make_subplots

from search._report import ReportData
from search._report_axes import plotly_ticks, set_matplotlib_ticks, ticks_for
from search._report_figure import (
    BASELINE_COLOR,
    COMPLETE_COLOR,
    PRUNED_COLOR,
    Figure,
    grid_height,
    grid_shape,
    matplotlib_grid,
)


def _subplots(rows: int, cols: int, titles: list[str]) -> go.Figure:
    return make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.08,
        # About 110 px between rows: two-line tick labels ("128" over "n=5") and a title.
        vertical_spacing=min(110 / grid_height(rows), 1 / (rows - 1)) if rows > 1 else 0.0,
    )


def slice_figure(data: ReportData, distributions: dict[str, BaseDistribution]) -> Figure | None:
    """The metric against each usable parameter, a grid of panels, one dot per trial.

    Only parameters with at least two distinct values are drawn; the completed trials (or,
    with ``data.common_epoch``, the trials at that epoch) are the dots, coloured by trial
    number (viridis: early purple, late yellow).
    """
    params = data.ranked + [p for p in data.usable_params if p not in data.ranked]
    frame = data.effect_frame[~data.effect_frame["pruned"]] if len(data.effect_frame) else None
    if not params or frame is None or frame.empty:
        return None
    rows, cols = grid_shape(len(params))
    figure = _subplots(rows, cols, params)
    which = (
        f"{len(frame)} trials at epoch {data.common_epoch}"
        if data.common_epoch is not None
        else f"{len(frame)} completed trials"
    )
    panels: list[tuple[str, pd.DataFrame, bool, Any]] = []
    for index, name in enumerate(params):
        row, col = index // cols + 1, index % cols + 1
        points = frame.dropna(subset=[f"params_{name}"])
        distribution = distributions.get(name)
        categorical = isinstance(distribution, CategoricalDistribution)
        x = points[f"params_{name}"]
        ticks = None if categorical else ticks_for(distribution, float(x.min()), float(x.max()))
        panels.append((name, points, categorical, ticks))
        figure.add_trace(
            go.Scatter(
                x=x.astype(str) if categorical else x,
                y=points["value"],
                mode="markers",
                name=name,
                text=[f"trial {n}" for n in points["number"]],
                marker={"color": points["number"], "coloraxis": "coloraxis", "size": 6},
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        log = getattr(distribution, "log", False)
        figure.update_xaxes(
            type="category" if categorical else "log" if log else "linear",
            row=row,
            col=col,
            **plotly_ticks(ticks),
        )
    figure.update_layout(
        title=f"{data.metric} against each parameter ({which})",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "trial"}},
    )

    def draw_png() -> Any:
        fig, axes = matplotlib_grid(rows, cols, len(panels))
        for ax, (name, points, categorical, ticks) in zip(axes, panels, strict=True):
            x = points[f"params_{name}"]
            if categorical:
                order = [str(c) for c in distributions[name].choices]  # type: ignore[attr-defined]
                order = [c for c in order if c in set(x.astype(str))]
                x = x.astype(str).map({c: i for i, c in enumerate(order)})
                ax.set_xticks(range(len(order)), labels=order)
                ax.set_xlim(-0.5, len(order) - 0.5)
            elif getattr(distributions.get(name), "log", False):
                ax.set_xscale("log")
            ax.scatter(x, points["value"], c=points["number"], cmap="viridis", s=14)
            set_matplotlib_ticks(ax.xaxis, ticks)
            ax.set_title(name)
            ax.set_ylabel(data.metric)
        fig.suptitle(f"{data.metric} against each parameter ({which})")
        fig.tight_layout()
        return fig

    return Figure("slice", "slice", figure, draw_png, height=grid_height(rows))


def trials_used(data: ReportData) -> str:
    """Which trials the marginal effects rest on, as a sentence fragment."""
    frame = data.effect_frame
    n_pruned = int(frame["pruned"].sum()) if len(frame) else 0
    n_complete = len(frame) - n_pruned
    if data.common_epoch is not None:
        return (
            f"the {len(frame)} trials that reached epoch {data.common_epoch}, completed or "
            "pruned later, at the value they reported there (too few completed trials to "
            "compare final values)"
        )
    if data.options.include_pruned:
        return (
            f"{len(frame)} trials: {n_complete} completed and {n_pruned} pruned, the pruned "
            "ones at the value they last reported (hollow dots)"
        )
    return f"{n_complete} completed trials; pruned trials are not included"


def _crowded(table: pd.DataFrame) -> bool:
    # Level labels side by side touch beyond ~45 characters in one panel.
    return len(table) > 8 or sum(len(str(level)) + 2 for level in table["level"]) > 45


def _jitter(n: int, seed: int) -> np.ndarray:
    # Deterministic, so the same study always draws the same picture.
    return np.random.default_rng(seed).uniform(-0.15, 0.15, size=n)


class _TrialPoints(NamedTuple):
    """The trials of one parameter's panel (plotly and matplotlib draw the same points)."""

    position: dict[Any, int]  # level -> its x position
    numbers: np.ndarray  # trial numbers
    x: np.ndarray  # the level's position, jittered
    y: np.ndarray  # the trial's value
    pruned: np.ndarray  # bool per trial


def _trial_points(effect: Any, frame: pd.DataFrame, index: int) -> _TrialPoints:
    position = {level: i for i, level in enumerate(effect.table["level"])}
    numbers = np.array(list(effect.trial_levels), dtype=int)
    x = np.array([position[effect.trial_levels[n]] for n in numbers], dtype=float)
    x += _jitter(len(numbers), index)
    y = frame.loc[numbers, "value"].to_numpy(dtype=float)
    pruned = frame.loc[numbers, "pruned"].to_numpy(dtype=bool)
    return _TrialPoints(position, numbers, x, y, pruned)


def marginal_figure(data: ReportData) -> Figure | None:
    """Mean metric and 95% interval per level of each top parameter, the baseline marked."""
    params = [p for p in data.top_params if p in data.effects]
    if not params:
        return None
    frame = data.effect_frame.set_index("number")
    baseline_value = (
        float(frame.loc[data.baseline, "value"])
        if data.baseline is not None and data.baseline in frame.index
        else None
    )
    rows, cols = grid_shape(len(params), columns=2 if len(params) <= 4 else 3)
    figure = _subplots(rows, cols, params)
    for index, name in enumerate(params):
        row, col = index // cols + 1, index % cols + 1
        effect = data.effects[name]
        table = effect.table
        position, numbers, x, y, pruned = _trial_points(effect, frame, index)
        first = index == 0
        for mask, label, symbol in (
            (~pruned, "trial", "circle"),
            (pruned, "pruned trial (last reported value)", "circle-open"),
        ):
            if mask.any():
                figure.add_trace(
                    go.Scatter(
                        x=x[mask],
                        y=y[mask],
                        mode="markers",
                        name=label,
                        text=[f"trial {n}" for n in numbers[mask]],
                        marker={"color": PRUNED_COLOR, "size": 5, "symbol": symbol},
                        legendgroup=label,
                        showlegend=first,
                    ),
                    row=row,
                    col=col,
                )
        figure.add_trace(
            go.Scatter(
                x=list(range(len(table))),
                y=table["mean"],
                mode="lines+markers",
                name="mean, 95% interval",
                error_y={
                    "type": "data",
                    "array": (table["ci_high"] - table["mean"]).fillna(0),
                    "arrayminus": (table["mean"] - table["ci_low"]).fillna(0),
                },
                marker={"color": COMPLETE_COLOR, "size": 8},
                line={"color": COMPLETE_COLOR, "width": 1},
                legendgroup="mean",
                showlegend=first,
            ),
            row=row,
            col=col,
        )
        if data.baseline in effect.trial_levels and baseline_value is not None:
            figure.add_trace(
                go.Scatter(
                    x=[position[effect.trial_levels[data.baseline]]],
                    y=[baseline_value],
                    mode="markers",
                    name=f"baseline (trial {data.baseline})",
                    marker={"symbol": "star", "size": 14, "color": BASELINE_COLOR},
                    legendgroup="baseline",
                    showlegend=first,
                ),
                row=row,
                col=col,
            )
            figure.add_hline(
                y=baseline_value, line={"dash": "dot", "color": BASELINE_COLOR}, row=row, col=col
            )
        figure.update_xaxes(
            tickmode="array",
            tickvals=list(range(len(table))),
            ticktext=[f"{lv}<br>n={n}" for lv, n in zip(table["level"], table["n"], strict=True)],
            tickangle=-45 if _crowded(table) else 0,
            row=row,
            col=col,
        )
    caption = marginal_caption(data)
    figure.update_layout(
        title=f"Marginal effect on {data.metric}: mean and 95% interval per level",
        legend={"orientation": "h", "y": -0.12 / rows},
    )

    def draw_png() -> Any:
        fig, axes = matplotlib_grid(rows, cols, len(params))
        for index, (ax, name) in enumerate(zip(axes, params, strict=True)):
            _draw_marginal_panel(ax, data, name, frame, baseline_value, index)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
        fig.suptitle(f"Marginal effect on {data.metric}: mean and 95% interval per level")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return fig

    return Figure(
        "marginal-effects",
        "marginal",
        figure,
        draw_png,
        height=grid_height(rows) + 60,
        caption=caption,
    )


def marginal_caption(data: ReportData) -> str:
    """How to read the marginal-effect plots, and what they rest on."""
    if data.baseline is None:
        baseline = "this study has no baseline trial (user attribute baseline = true)"
    elif data.baseline in set(data.effect_frame["number"]):
        baseline = f"the red star and dotted line are the baseline, trial {data.baseline}"
    else:
        baseline = f"the baseline, trial {data.baseline}, is not among these trials"
    return (
        f"Top {len([p for p in data.top_params if p in data.effects])} parameters by "
        f"importance. Each panel: grey dots are trials at their level, blue the mean of "
        f"{data.metric} per level with its 95% t-interval, n the trials per level; "
        f"{baseline}. Uses {trials_used(data)}."
    )


def _draw_marginal_panel(
    ax: Any,
    data: ReportData,
    name: str,
    frame: pd.DataFrame,
    baseline_value: float | None,
    index: int,
) -> None:
    effect = data.effects[name]
    table = effect.table
    position, numbers, x, y, pruned = _trial_points(effect, frame, index)
    ax.scatter(x[~pruned], y[~pruned], s=10, color=PRUNED_COLOR, label="trial")
    if pruned.any():
        ax.scatter(
            x[pruned],
            y[pruned],
            s=14,
            facecolors="none",
            edgecolors=PRUNED_COLOR,
            label="pruned (last value)",
        )
    low = (table["mean"] - table["ci_low"]).fillna(0).to_numpy()
    high = (table["ci_high"] - table["mean"]).fillna(0).to_numpy()
    ax.errorbar(
        range(len(table)),
        table["mean"],
        yerr=[low, high],
        fmt="o-",
        color=COMPLETE_COLOR,
        capsize=3,
        linewidth=1,
        label="mean, 95% interval",
    )
    if data.baseline in effect.trial_levels and baseline_value is not None:
        ax.axhline(baseline_value, color=BASELINE_COLOR, linestyle=":", linewidth=1)
        ax.plot(
            position[effect.trial_levels[data.baseline]],
            baseline_value,
            marker="*",
            markersize=14,
            color=BASELINE_COLOR,
            linestyle="none",
            label=f"baseline (trial {data.baseline})",
        )
    labels = [f"{lv}\nn={n}" for lv, n in zip(table["level"], table["n"], strict=True)]
    set_matplotlib_ticks(ax.xaxis, ([float(i) for i in range(len(table))], labels))
    if _crowded(table):
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.set_title(name)
    ax.set_ylabel(data.metric)
