"""Render :class:`search._report.ReportData` as one offline HTML file plus a PNG per figure.

The HTML inlines plotly.js once, so the file opens with no network. PNGs are drawn with
matplotlib (Optuna's ``optuna.visualization.matplotlib`` for its own plots), which needs no
browser, rather than with kaleido, which needs a Chrome install at export time.
"""

from __future__ import annotations

import functools
import html
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from search._report import ReportData, build_report_data, completed_trials, most_important_pairs
from search._study import open_study

REPORT_FILE_NAME = "report.html"

_COMPLETE_COLOR = "#1f77b4"
_PRUNED_COLOR = "#aaaaaa"
_FRONT_COLOR = "#d62728"
_CHOSEN_COLOR = "#2ca02c"


@dataclass
class _Figure:
    """One chart: an interactive plotly figure and a matplotlib drawing for its PNG."""

    name: str
    section: str
    plotly: go.Figure
    draw_png: Callable[[], Any]
    height: int = 500


def _first_value(trial: FrozenTrial) -> float:
    return trial.values[0]


def _target_kwargs(study: optuna.Study, data: ReportData) -> dict[str, Any]:
    # Optuna's plots need an explicit target for multi-objective studies; single-objective
    # ones get the same picture either way but keep Optuna's direction-aware colour scale.
    if len(study.directions) > 1:
        return {"target": _first_value, "target_name": data.metric}
    return {"target_name": data.metric}


def _optuna_figure(
    name: str, section: str, plot: str, study: optuna.Study, **kwargs: Any
) -> _Figure:
    """Pair an ``optuna.visualization`` plot with its matplotlib twin of the same name."""

    def draw_png() -> Any:
        import optuna.visualization.matplotlib as optuna_matplotlib

        axes = getattr(optuna_matplotlib, plot)(study, **kwargs)
        return np.ravel(axes)[0].figure

    return _Figure(name, section, getattr(optuna.visualization, plot)(study, **kwargs), draw_png)


def _learning_curves(study: optuna.Study, data: ReportData) -> _Figure | None:
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.intermediate_values and t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    ]
    if not trials:
        return None
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
                    "color": _PRUNED_COLOR if pruned else _COMPLETE_COLOR,
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
        ("complete", _COMPLETE_COLOR, "solid"),
        ("pruned", _PRUNED_COLOR, "dot"),
    ):
        figure.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="lines", name=label, line={"color": color, "dash": dash}
            )
        )
    figure.update_layout(
        title="Learning curves (pruned trials dotted grey, ending in a cross)",
        xaxis_title="epoch",
        yaxis_title=f"intermediate {data.metric}",
    )

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 5))
        for trial in trials:
            steps = sorted(trial.intermediate_values)
            values = [trial.intermediate_values[s] for s in steps]
            pruned = trial.state == TrialState.PRUNED
            color = _PRUNED_COLOR if pruned else _COMPLETE_COLOR
            ax.plot(steps, values, color=color, linestyle=":" if pruned else "-", linewidth=1)
            if pruned:
                ax.plot(steps[-1], values[-1], marker="x", color=color)
        ax.set(title="Learning curves (pruned: dotted grey)", xlabel="epoch", ylabel=data.metric)
        return fig

    return _Figure("learning-curves", "history", figure, draw_png)


def _importance_figure(data: ReportData) -> _Figure:
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
    figure.update_layout(title=f"Hyperparameter importance for {data.metric}")

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(evaluators), figsize=(5 * len(evaluators), 4))
        for ax, evaluator in zip(np.ravel(axes), evaluators, strict=True):
            ranked = sorted(data.importances[evaluator].items(), key=lambda item: item[1])
            ax.barh([name for name, _ in ranked], [value for _, value in ranked])
            ax.set_title(evaluator)
        fig.tight_layout()
        return fig

    return _Figure("importance", "importance", figure, draw_png)


def _cost_quality_figure(data: ReportData, cost: str) -> _Figure:
    analysis = data.cost_quality[cost]
    frame = analysis.frame.sort_values(cost)
    front = frame[frame["on_front"]]
    chosen = frame[frame["number"] == analysis.cheapest_within_tolerance]
    best = frame[frame["number"] == analysis.best]
    log_x = bool(frame[cost].min() > 0 and frame[cost].max() / frame[cost].min() >= 100)
    figure = go.Figure(
        [
            go.Scatter(
                x=frame[cost],
                y=frame["value"],
                mode="markers",
                name="trials",
                text=[f"trial {n}" for n in frame["number"]],
                marker={"color": _COMPLETE_COLOR, "opacity": 0.6},
            ),
            go.Scatter(
                x=front[cost],
                y=front["value"],
                mode="lines+markers",
                name="Pareto front",
                text=[f"trial {n}" for n in front["number"]],
                line={"shape": "hv", "color": _FRONT_COLOR},
            ),
            go.Scatter(
                x=best[cost],
                y=best["value"],
                mode="markers",
                name="best",
                marker={"symbol": "star", "size": 16, "color": "gold"},
            ),
            go.Scatter(
                x=chosen[cost],
                y=chosen["value"],
                mode="markers",
                name=f"cheapest within {analysis.tolerance:g}",
                marker={"symbol": "diamond", "size": 14, "color": _CHOSEN_COLOR},
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

        fig, ax = plt.subplots(figsize=(8, 5))
        ax.scatter(frame[cost], frame["value"], alpha=0.6, label="trials")
        ax.step(front[cost], front["value"], where="post", color=_FRONT_COLOR, label="front")
        ax.scatter(best[cost], best["value"], marker="*", s=200, color="gold", label="best")
        ax.scatter(
            chosen[cost], chosen["value"], marker="D", s=80, color=_CHOSEN_COLOR, label="chosen"
        )
        if log_x:
            ax.set_xscale("log")
        ax.set(title=f"{data.metric} vs {cost}", xlabel=cost, ylabel=data.metric)
        ax.legend()
        return fig

    return _Figure(f"cost-{cost}", "cost", figure, draw_png)


def _family_figure(study: optuna.Study, data: ReportData) -> _Figure:
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

    return _Figure("families", "families", figure, draw_png)


def _build_figures(study: optuna.Study, data: ReportData) -> tuple[list[_Figure], list[str]]:
    """All figures the data supports, and a note for each that could not be drawn."""
    figures: list[_Figure] = []
    notes: list[str] = []
    if not completed_trials(study):
        return figures, notes
    target = _target_kwargs(study, data)
    params = sorted({name for t in completed_trials(study) for name in t.params})
    builders: list[tuple[str, Callable[[], _Figure | None]]] = [
        (
            "optimization history",
            lambda: _optuna_figure(
                "history", "history", "plot_optimization_history", study, **target
            ),
        ),
        ("learning curves", lambda: _learning_curves(study, data)),
    ]
    if data.importances:
        builders.append(("importance", lambda: _importance_figure(data)))
    pairs = most_important_pairs(data.importances) or (
        [(params[0], params[1])] if len(params) >= 2 else []
    )
    if not pairs:
        notes.append("Contour plots not drawn: they need at least two parameters.")
    for first, second in pairs:
        builders.append(
            (
                f"contour {first} x {second}",
                functools.partial(
                    _optuna_figure,
                    f"contour-{first}-{second}",
                    "contour",
                    "plot_contour",
                    study,
                    params=[first, second],
                    **target,
                ),
            )
        )
    if params:
        builders.append(
            ("slice", lambda: _optuna_figure("slice", "slice", "plot_slice", study, **target))
        )
        builders.append(
            (
                "parallel coordinates",
                lambda: _optuna_figure(
                    "parallel", "parallel", "plot_parallel_coordinate", study, **target
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
                lambda: _optuna_figure(
                    "pareto-front",
                    "pareto",
                    "plot_pareto_front",
                    study,
                    target_names=data.metric_names,
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


def _write_pngs(figures: list[_Figure], out_dir: Path) -> tuple[list[Path], list[str]]:
    import matplotlib

    # Agg draws to files only; the report must work on a headless server.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    notes: list[str] = []
    for index, figure in enumerate(figures, start=1):
        path = out_dir / f"{index:02d}-{figure.name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                drawing = figure.draw_png()
                drawing.savefig(path, dpi=100, bbox_inches="tight")
                plt.close(drawing)
        except Exception as exc:  # noqa: BLE001 - same reasoning as for the HTML figures
            notes.append(f"PNG for '{figure.name}' not written: {type(exc).__name__}: {exc}")
            plt.close("all")
            continue
        paths.append(path)
    return paths, notes


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)


def _key_values(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def _summary_html(study: optuna.Study, data: ReportData) -> str:
    summary = data.summary
    states = ", ".join(f"{name.lower()} {count}" for name, count in summary["states"].items())
    rows: list[tuple[str, Any]] = [
        (
            "objectives",
            ", ".join(
                f"{n} ({d.name.lower()})"
                for n, d in zip(data.metric_names, study.directions, strict=True)
            ),
        ),
        ("trials", f"{summary['n_trials']} ({states or 'none'})"),
    ]
    if summary["best_value"] is not None:
        rows.append(
            (f"best {data.metric}", f"{summary['best_value']:.4g} (trial {summary['best_trial']})")
        )
    if "n_pareto_optimal" in summary:
        rows.append(("Pareto-optimal trials", summary["n_pareto_optimal"]))
    if summary["total_train_seconds"] is not None:
        rows.append(("total training time", f"{summary['total_train_seconds'] / 3600:.2f} h"))
        rows.append(("mean training time per trial", f"{summary['mean_train_seconds']:.1f} s"))
    if summary["epochs_run"] is not None:
        full = summary["epochs_full_budget"]
        rows.append(
            (
                "epochs run",
                f"{summary['epochs_run']} of {full} for full runs "
                f"({summary['n_with_epochs']} trials × {summary['max_epochs']} epochs)",
            )
        )
        saved = summary["epochs_saved_by_pruner"]
        rows.append(("epochs saved by the pruner", f"{saved} ({saved / full:.0%} of full runs)"))
    parts = [_key_values(rows)]
    if summary["best_params"]:
        parts.append("<h3>Best parameters</h3>")
        parts.append(_key_values(sorted(summary["best_params"].items())))
    return "\n".join(parts)


def _cost_html(study: optuna.Study, data: ReportData) -> str:
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    parts = []
    for cost, analysis in data.cost_quality.items():
        frame = analysis.frame.set_index("number")
        best, chosen = analysis.best, analysis.cheapest_within_tolerance
        parts.append(
            f"<p><b>{html.escape(data.metric)} vs {html.escape(cost)}</b>: best trial {best} "
            f"({data.metric} {frame.loc[best, 'value']:.4g}, {cost} "
            f"{frame.loc[best, cost]:.4g}). Cheapest within {analysis.tolerance:g} of the "
            f"best (0.5 points): <b>trial {chosen}</b> ({data.metric} "
            f"{frame.loc[chosen, 'value']:.4g}, {cost} {frame.loc[chosen, cost]:.4g}) with "
            f"{html.escape(str(by_number[chosen].params))}. Pareto front: trials "
            f"{', '.join(map(str, analysis.front))}.</p>"
        )
    if data.pareto_front:
        parts.append(
            f"<p><b>Pareto front of the objectives</b> ({', '.join(data.metric_names)}): "
            f"trials {', '.join(map(str, data.pareto_front))}.</p>"
        )
    return "\n".join(parts)


def _figure_div(figure: _Figure) -> str:
    # Plotly's default div height is 100% of a parent that has none, which collapses the
    # chart to nothing outside a full-page figure; a fixed height keeps every chart visible.
    return figure.plotly.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"figure-{figure.name}",  # distinct from the section ids
        default_height=f"{figure.height}px",
        default_width="100%",
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; text-align: left; }
.notes { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.side { display: flex; gap: 2em; flex-wrap: wrap; }
.figure { margin-bottom: 1em; }
"""

_SECTIONS = [
    ("history", "Optimization history and learning curves"),
    ("importance", "Hyperparameter importance (PED-ANOVA and fANOVA)"),
    ("contour", "Contour plots of the most important pairs"),
    ("slice", "Slice plots"),
    ("parallel", "Parallel coordinates"),
    ("marginal", "Marginal effects"),
    ("cost", "Cost vs quality"),
    ("pareto", "Pareto front"),
    ("families", "Model families"),
]


def render_html(study: optuna.Study, data: ReportData, figures: list[_Figure]) -> str:
    """The report as one HTML document with plotly.js inlined.

    Args:
        study: The study the data was computed from.
        data: Output of :func:`search._report.build_report_data`.
        figures: The figures to embed, each shown in its section.

    Returns:
        The HTML text.
    """
    from plotly.offline import get_plotlyjs

    body = [f"<h1>Study report: {html.escape(data.study_name)}</h1>"]
    if data.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in data.notes)
        body.append(f'<div class="notes"><b>Not computed</b><ul>{items}</ul></div>')
    body.append("<h2>Summary</h2>")
    body.append(_summary_html(study, data))
    for section, title in _SECTIONS:
        chunks = [
            f'<div class="figure">{_figure_div(f)}</div>' for f in figures if f.section == section
        ]
        if section == "importance" and data.importances:
            table = pd.DataFrame(data.importances).sort_values(
                list(data.importances)[0], ascending=False
            )
            chunks.append(_table(table.rename_axis("param").reset_index()))
        if section == "marginal":
            for name, table in data.marginal.items():
                chunks.append(f"<h3>{html.escape(name)}</h3>{_table(table)}")
            if chunks:
                chunks.insert(
                    0,
                    "<p>Per value or quantile bin of each parameter, over the "
                    "completed trials; <i>best</i> is the best value seen.</p>",
                )
        if section == "cost":
            chunks.append(_cost_html(study, data))
        if section == "families" and data.families is not None:
            chunks.append(_table(data.families))
        if any(chunk.strip() for chunk in chunks):
            body.append(f'<h2 id="{section}">{html.escape(title)}</h2>')
            body.extend(chunks)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>hpsearch report: {html.escape(data.study_name)}</title>"
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def write_report(study: optuna.Study, out_dir: Path) -> Path:
    """Write ``report.html`` and one PNG per figure for ``study`` into ``out_dir``.

    Args:
        study: The study.
        out_dir: Folder to write into; created if missing.

    Returns:
        Path of the HTML file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_report_data(study)
    figures, notes = _build_figures(study, data)
    _, png_notes = _write_pngs(figures, out_dir)
    data.notes.extend(notes + png_notes)
    path = out_dir / REPORT_FILE_NAME
    path.write_text(render_html(study, data, figures), encoding="utf-8")
    return path


def make_report(study_name: str, storage_url: str, out_dir: Path | None = None) -> Path:
    """Load a study and write its report.

    Args:
        study_name: Name of the study.
        storage_url: Storage URL accepted by :func:`storage.open_storage`.
        out_dir: Output folder; defaults to ``./report-<study_name>/``.

    Returns:
        Path of the HTML file.

    Raises:
        StudyError: The study does not exist.
    """
    study = open_study(study_name, storage_url)
    return write_report(study, out_dir or Path(f"report-{study_name}"))
