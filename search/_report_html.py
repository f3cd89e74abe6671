"""Render :class:`search._report.ReportData` as one offline HTML file plus a PNG per figure.

The HTML inlines plotly.js once, so the file opens with no network. PNGs are drawn with
matplotlib (Optuna's ``optuna.visualization.matplotlib`` for its own plots), which needs no
browser, rather than with kaleido, which needs a Chrome install at export time.
"""

from __future__ import annotations

import html
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from search._report import ReportData, ReportOptions, build_report_data
from search._report_figure import Figure
from search._report_figures import build_figures
from search._report_grids import trials_used
from search._report_text import summary_lines
from search._study import open_study

REPORT_FILE_NAME = "report.html"
SUMMARY_FILE_NAME = "summary.txt"


def write_pngs(figures: list[Figure], out_dir: Path) -> tuple[list[Path], list[str]]:
    """Write each figure's matplotlib twin as ``NN-<name>.png`` (replacing the ``NN-*.png``
    an earlier report left in ``out_dir``); a note for each that fails."""
    import matplotlib

    # Agg draws to files only; the report must work on a headless server.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # An earlier report into this folder may have drawn other figures: its numbered PNGs
    # would read as part of this one. Only files of this naming are removed.
    for stale in out_dir.glob("[0-9][0-9]-*.png"):
        stale.unlink()
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
    # Wrapped so a wide table scrolls inside the page instead of widening it.
    table = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="–", border=0)
    return f'<div class="scroll">{table}</div>'


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


def figure_div(figure: Figure) -> str:
    # Plotly's default div height is 100% of a parent that has none, which collapses the
    # chart to nothing outside a full-page figure; a fixed height keeps every chart visible.
    return figure.plotly.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"figure-{figure.name}",  # distinct from the section ids
        default_height=f"{figure.height}px",
        default_width="100%",
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; text-align: left; }
.scroll { max-width: 100%; overflow-x: auto; }
.notes { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; }
.warning { background: #fdecea; border-left: 4px solid #d62728; padding: 0.5em 1em; }
.paste { background: #f6f8fa; border: 1px solid #ddd; padding: 0.8em 1em;
         white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.95em; }
.figure { margin-bottom: 1em; }
.caption { max-width: 60em; }
p, li { overflow-wrap: anywhere; }
"""

_SECTIONS = [
    ("history", "Optimization history and learning curves"),
    ("importance", "Hyperparameter importance (PED-ANOVA and fANOVA)"),
    ("marginal", "Marginal effects"),
    ("contour", "Contour plots of the most important pairs"),
    ("slice", "Slice plots"),
    ("parallel", "Parallel coordinates"),
    ("cost", "Cost vs quality"),
    ("pareto", "Pareto front"),
    ("families", "Model families"),
]


def _marginal_tables(data: ReportData) -> list[str]:
    chunks = []
    if data.marginal:
        chunks.append(
            "<p>One row per value of each parameter with up to 12 distinct values, quantile "
            "bins beyond that; <i>ci_low</i>..<i>ci_high</i> is the 95% t-interval of the "
            f"mean, <i>best</i> the best value seen. Uses {html.escape(trials_used(data))}. "
            "Every other parameter varies too, so a level's mean is its average effect "
            "over the rest of the search.</p>"
        )
    baseline = data.effects
    for name in data.ranked + [n for n in data.marginal if n not in data.ranked]:
        table = data.marginal[name].copy()
        if not data.options.include_pruned:
            table = table.drop(columns="n_pruned")
        if data.baseline is not None and data.baseline in baseline[name].trial_levels:
            level = baseline[name].trial_levels[data.baseline]
            table["baseline"] = ["◆" if lv == level else "" for lv in table["level"]]
        note = " (single value: not plotted)" if name in data.single_valued else ""
        chunks.append(f"<h3>{html.escape(name)}{note}</h3>{_table(table)}")
    return chunks


def _section_chunks(
    section: str, study: optuna.Study, data: ReportData, figures: list[Figure]
) -> list[str]:
    chunks = []
    for figure in figures:
        if figure.section == section:
            if figure.caption:
                chunks.append(f'<p class="caption">{html.escape(figure.caption)}</p>')
            chunks.append(f'<div class="figure">{figure_div(figure)}</div>')
    if section == "importance" and data.importances:
        if data.disagreements:
            items = "".join(f"<li>{html.escape(line)}</li>" for line in data.disagreements)
            chunks.insert(0, f'<div class="warning"><ul>{items}</ul></div>')
        table = pd.DataFrame(data.importances).sort_values(
            list(data.importances)[0], ascending=False
        )
        chunks.append(_table(table.rename_axis("param").reset_index()))
    if section == "marginal":
        chunks.extend(_marginal_tables(data))
    if section == "cost":
        chunks.append(_cost_html(study, data))
    if section == "families" and data.families is not None:
        chunks.append(_table(data.families))
    return chunks


def render_html(
    study: optuna.Study, data: ReportData, figures: list[Figure], summary: list[str]
) -> str:
    """The report as one HTML document with plotly.js inlined.

    Args:
        study: The study the data was computed from.
        data: Output of :func:`search._report.build_report_data`.
        figures: The figures to embed, each shown in its section.
        summary: The plain-text summary lines shown first.

    Returns:
        The HTML text.
    """
    from plotly.offline import get_plotlyjs

    body = [f"<h1>Study report: {html.escape(data.study_name)}</h1>"]
    body.append(f'<div class="paste" id="summary-text">{html.escape(chr(10).join(summary))}</div>')
    if data.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in data.notes)
        body.append(f'<div class="notes"><b>Not computed</b><ul>{items}</ul></div>')
    body.append("<h2>Summary</h2>")
    body.append(_summary_html(study, data))
    for section, title in _SECTIONS:
        chunks = _section_chunks(section, study, data, figures)
        if any(chunk.strip() for chunk in chunks):
            body.append(f'<h2 id="{section}">{html.escape(title)}</h2>')
            body.extend(chunks)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>hpsearch report: {html.escape(data.study_name)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def write_report(
    study: optuna.Study,
    out_dir: Path,
    options: ReportOptions | None = None,
    data: ReportData | None = None,
) -> Path:
    """Write ``report.html``, ``summary.txt`` and one PNG per figure into ``out_dir``.

    Args:
        study: The study.
        out_dir: Folder to write into; created if missing.
        options: What to include; defaults to :class:`ReportOptions()`.
        data: The study's :func:`build_report_data`, if already computed (with ``options``).

    Returns:
        Path of the HTML file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = data or build_report_data(study, options)
    figures, notes = build_figures(study, data)
    _, png_notes = write_pngs(figures, out_dir)
    data.notes.extend(notes + png_notes)
    summary = summary_lines(study, data)
    (out_dir / SUMMARY_FILE_NAME).write_text("\n".join(summary) + "\n", encoding="utf-8")
    path = out_dir / REPORT_FILE_NAME
    path.write_text(render_html(study, data, figures, summary), encoding="utf-8")
    return path


def make_report(
    study_name: str,
    storage_url: str,
    out_dir: Path | None = None,
    options: ReportOptions | None = None,
) -> Path:
    """Load a study and write its report.

    Args:
        study_name: Name of the study.
        storage_url: Storage URL accepted by :func:`storage.open_storage`.
        out_dir: Output folder; defaults to ``./report-<study_name>/``.
        options: What to include; defaults to :class:`ReportOptions()`.

    Returns:
        Path of the HTML file.

    Raises:
        StudyError: The study does not exist.
    """
    study = open_study(study_name, storage_url)
    return write_report(study, out_dir or Path(f"report-{study_name}"), options)
