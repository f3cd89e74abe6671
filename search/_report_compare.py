"""``hpsearch report --compare A B``: two studies side by side.

For e.g. a GRU study against an LSTM study, or an imported old sweep against the new study:
the best value so far over finished trials and over wall-clock time, and each study's best
configuration, in one offline HTML page plus a PNG.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import TrialState
from plotly.subplots import make_subplots

from search._report_figure import Figure
from search._report_trials import compute_hours, maximizes, metric_names, test_result
from search._study import open_study

COMPARE_FILE_NAME = "compare.html"
_COLORS = ("#1f77b4", "#ff7f0e")


@dataclass
class StudyDigest:
    """What the comparison shows of one study.

    Attributes:
        name: Study name.
        metric: Name of its first objective.
        maximize: Whether larger is better.
        states: State name -> trial count.
        best_value: Best completed value, or ``None``.
        best_trial: Number of the best trial, or ``None``.
        best_params: Its parameters (empty when nothing completed).
        test_value: The best trial's stored test score, if evaluated.
        hours: Training hours by device kind.
        curve: One row per finished trial in completion order: ``finished`` (1, 2, ...),
            ``hours`` (wall-clock since the study's first trial started) and
            ``best_so_far`` (NaN before the first completed trial).
    """

    name: str
    metric: str
    maximize: bool
    states: dict[str, int]
    best_value: float | None
    best_trial: int | None
    best_params: dict[str, Any]
    test_value: float | None
    hours: dict[str, float]
    curve: pd.DataFrame


def study_digest(study: optuna.Study) -> StudyDigest:
    """Summarize ``study`` for a side-by-side comparison (first objective only)."""
    maximize = maximizes(study)
    trials = study.get_trials(deepcopy=False)
    finished = sorted(
        (t for t in trials if t.state.is_finished() and t.datetime_complete is not None),
        key=lambda t: (t.datetime_complete, t.number),
    )
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    origin = min(starts) if starts else None
    best = np.nan
    best_trial = None
    rows = []
    for index, trial in enumerate(finished, start=1):
        if trial.state == TrialState.COMPLETE and trial.values and np.isfinite(trial.values[0]):
            value = trial.values[0]
            if np.isnan(best) or (value > best if maximize else value < best):
                best, best_trial = value, trial
        assert trial.datetime_complete is not None  # filtered above
        hours = (trial.datetime_complete - origin).total_seconds() / 3600 if origin else np.nan
        rows.append({"finished": index, "hours": hours, "best_so_far": best})
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    metric = metric_names(study)[0]
    return StudyDigest(
        name=study.study_name,
        metric=metric,
        maximize=maximize,
        states=states,
        best_value=None if best_trial is None else float(best),
        best_trial=None if best_trial is None else best_trial.number,
        best_params=dict(best_trial.params) if best_trial else {},
        test_value=test_result(study, best_trial.number, metric) if best_trial else None,
        hours=compute_hours(study),
        curve=pd.DataFrame(rows, columns=["finished", "hours", "best_so_far"]),
    )


def comparison_notes(a: StudyDigest, b: StudyDigest) -> list[str]:
    """Warnings a reader needs before comparing the two columns."""
    notes = []
    if a.metric != b.metric:
        notes.append(
            f"The studies optimize different metrics ({a.name}: {a.metric}, {b.name}: "
            f"{b.metric}); their values are not directly comparable."
        )
    if a.maximize != b.maximize:
        notes.append("One study maximizes and the other minimizes its metric.")
    for digest in (a, b):
        if digest.best_value is None:
            notes.append(f"Study {digest.name} has no completed trial yet.")
    return notes


def comparison_lines(a: StudyDigest, b: StudyDigest) -> list[str]:
    """The comparison as plain sentences to paste."""

    def one(d: StudyDigest) -> str:
        n = sum(d.states.values())
        if d.best_value is None:
            return f"{d.name}: no completed trial of {n}"
        test = f", test {d.test_value:.4g}" if d.test_value is not None else ""
        return f"{d.name}: best {d.metric} {d.best_value:.4g}{test} (trial {d.best_trial} of {n})"

    lines = [f"{one(a)}; {one(b)}."]
    if a.best_value is not None and b.best_value is not None and a.metric == b.metric:
        better = a if (a.best_value >= b.best_value) == a.maximize else b
        lines.append(
            f"{better.name} is better by {abs(a.best_value - b.best_value):.4g} {a.metric}."
        )
    return lines


def comparison_figure(a: StudyDigest, b: StudyDigest) -> Figure:
    """Best value so far against finished trials and against hours, both studies."""
    longest = max([float(d.curve["hours"].max()) for d in (a, b) if len(d.curve)] or [0.0])
    # Short studies read better in minutes than in hundredths of an hour.
    scale, unit = (60.0, "minutes") if not longest >= 2 else (1.0, "hours")
    time_label = f"{unit} since the first trial started"
    titles = ["best so far vs finished trials", f"best so far vs wall-clock {unit}"]
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.1)
    for digest, color in zip((a, b), _COLORS, strict=True):
        for col, x in ((1, "finished"), (2, "hours")):
            figure.add_trace(
                go.Scatter(
                    x=digest.curve[x] * (scale if x == "hours" else 1),
                    y=digest.curve["best_so_far"],
                    mode="lines",
                    line={"shape": "hv", "color": color},
                    name=digest.name,
                    legendgroup=digest.name,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    figure.update_xaxes(title_text="finished trials", row=1, col=1)
    figure.update_xaxes(title_text=time_label, row=1, col=2)
    figure.update_yaxes(title_text=a.metric, row=1, col=1)
    figure.update_layout(title=f"{a.name} vs {b.name}")

    def draw_png() -> Any:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for digest, color in zip((a, b), _COLORS, strict=True):
            for ax, x in zip(axes, ("finished", "hours"), strict=True):
                ax.step(
                    digest.curve[x] * (scale if x == "hours" else 1),
                    digest.curve["best_so_far"],
                    where="post",
                    color=color,
                    label=digest.name,
                )
        for ax, title, label in zip(axes, titles, ("finished trials", time_label), strict=True):
            ax.set(title=title, xlabel=label, ylabel=a.metric)
        axes[0].legend()
        fig.suptitle(f"{a.name} vs {b.name}")
        fig.tight_layout()
        return fig

    return Figure("compare", "compare", figure, draw_png, height=480)


def _side_by_side(a: StudyDigest, b: StudyDigest) -> pd.DataFrame:
    def states(d: StudyDigest) -> str:
        return ", ".join(f"{k.lower()} {v}" for k, v in d.states.items())

    def hours(d: StudyDigest) -> str:
        return ", ".join(f"{h:.2f} {kind}" for kind, h in d.hours.items())

    def direction(d: StudyDigest) -> str:
        return "maximize" if d.maximize else "minimize"

    rows: list[tuple[str, Any, Any]] = [
        ("metric", a.metric, b.metric),
        ("direction", direction(a), direction(b)),
        ("trials", states(a), states(b)),
        ("best value", a.best_value, b.best_value),
        ("best trial", a.best_trial, b.best_trial),
        ("test value of the best", a.test_value, b.test_value),
        ("training hours", hours(a), hours(b)),
    ]
    for name in sorted(set(a.best_params) | set(b.best_params)):
        rows.append((f"best {name}", a.best_params.get(name, "–"), b.best_params.get(name, "–")))
    return pd.DataFrame(rows, columns=["", a.name, b.name]).astype(str).replace("None", "–")


def write_comparison(study_a: optuna.Study, study_b: optuna.Study, out_dir: Path) -> Path:
    """Write ``compare.html`` and ``01-compare.png`` for two studies into ``out_dir``.

    Returns:
        Path of the HTML file.
    """
    from plotly.offline import get_plotlyjs

    from search._report_html import STYLE, figure_div, write_pngs

    out_dir.mkdir(parents=True, exist_ok=True)
    a, b = study_digest(study_a), study_digest(study_b)
    figure = comparison_figure(a, b)
    _, notes = write_pngs([figure], out_dir)
    notes = comparison_notes(a, b) + notes
    lines = comparison_lines(a, b)
    body = [
        f"<h1>Studies compared: {html.escape(a.name)} vs {html.escape(b.name)}</h1>",
        f'<div class="paste">{html.escape(chr(10).join(lines))}</div>',
    ]
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        body.append(f'<div class="notes"><ul>{items}</ul></div>')
    body.append(f'<div class="figure">{figure_div(figure)}</div>')
    body.append("<h2>Side by side</h2>")
    table = _side_by_side(a, b).to_html(index=False, border=0)
    body.append(f'<div class="scroll">{table}</div>')
    path = out_dir / COMPARE_FILE_NAME
    path.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>hpsearch: {html.escape(a.name)} vs {html.escape(b.name)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>",
        encoding="utf-8",
    )
    return path


def make_comparison(
    study_a: str, study_b: str, storage_url: str, out_dir: Path | None = None
) -> Path:
    """Load two studies of one storage and write their comparison.

    Args:
        study_a: Name of the first study.
        study_b: Name of the second study.
        storage_url: Storage URL holding both.
        out_dir: Output folder; defaults to ``./compare-<a>-vs-<b>/``.

    Raises:
        StudyError: A study does not exist.
    """
    first, second = open_study(study_a, storage_url), open_study(study_b, storage_url)
    return write_comparison(first, second, out_dir or Path(f"compare-{study_a}-vs-{study_b}"))
