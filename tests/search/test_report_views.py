"""What a person reading a report relies on, checked on studies of known structure.

The studies (tests/search/report_studies.py) have a decisive parameter with a known best
level, a do-nothing parameter with 9 levels, and parameters that never vary.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from browser import headless_chromium
from cli_helpers import hpsearch
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial
from report_studies import (
    BEST_HIDDEN_SIZE,
    EMBEDDING_DIMS,
    HIDDEN_SIZES,
    MAX_EPOCHS,
    SINGLE_VALUED,
    known_structure_study,
)
from typer.testing import CliRunner

import storage
from search import ReportOptions, build_report_data
from search._report_axes import integer_ticks, log_ticks
from search._report_effects import importance_disagreements, marginal_effect_details
from search._report_figures import build_figures
from search._report_grids import marginal_figure
from search._report_html import write_report
from search._report_text import summary_lines
from search.cli import app
from search.errors import ConfigError

runner = CliRunner()


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    """63 trials (48 complete, 15 pruned) over 6 params; trial 0 is the baseline."""
    url = f"sqlite:///{tmp_path_factory.mktemp('known') / 'studies.db'}"
    return known_structure_study(url), url


@pytest.fixture(scope="module")
def known_data(known):
    return build_report_data(known[0])


@pytest.fixture(scope="module")
def wide_report(tmp_path_factory: pytest.TempPathFactory):
    """The data and report of a study with 12 varying parameters (14 in all), built once."""
    folder = tmp_path_factory.mktemp("wide")
    study = known_structure_study(None, name="wide", wide=True)  # no command reads a storage
    data = build_report_data(study)
    return study, write_report(study, folder / "report", data=data), data


def _plotted_names(figure) -> set[str]:
    """Every name a plotly figure shows as an axis title, panel title or dimension."""
    layout = figure.layout.to_plotly_json()
    names = {
        str(value.get("title", {}).get("text"))
        for key, value in layout.items()
        if key.startswith(("xaxis", "yaxis"))
    }
    names |= {str(a.get("text")) for a in layout.get("annotations", [])}
    for trace in figure.data:
        names |= {str(d["label"]) for d in (getattr(trace, "dimensions", None) or [])}
    return names


def test_decisive_parameter_ranks_first(known_data) -> None:
    assert known_data.ranked[0] == "hidden_size"
    for evaluator, values in known_data.importances.items():
        assert max(values, key=values.get) == "hidden_size", evaluator


def test_no_figure_plots_a_single_valued_parameter(known, known_data) -> None:
    assert known_data.single_valued == SINGLE_VALUED
    assert set(known_data.usable_params) == {"hidden_size", "embedding_dim", "lr", "cell"}
    assert not set(SINGLE_VALUED) & set(known_data.importances["fANOVA"])

    figures, notes = build_figures(known[0], known_data)

    assert not [n for n in notes if "not drawn" in n], notes
    by_name = {f.name: f for f in figures}
    for figure in figures:
        assert not set(SINGLE_VALUED) & _plotted_names(figure.plotly), figure.name
    slice_titles = {a.text for a in by_name["slice"].plotly.layout.annotations}
    assert slice_titles == set(known_data.usable_params)
    contours = [f for f in figures if f.section == "contour"]
    assert contours and all("hidden_size" in f.name for f in contours[:2])


def test_a_short_study_says_in_one_sentence_why_there_is_no_contour(
    sqlite_url: str, tmp_path: Path
) -> None:
    study = optuna.create_study(study_name="short", storage=storage.open_storage(sqlite_url))
    distributions = {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "batch_size": CategoricalDistribution([16, 32]),
    }
    for lr in (1e-3, 1e-2, 3e-2):
        study.add_trial(
            create_trial(params={"lr": lr, "batch_size": 16}, distributions=distributions, value=lr)
        )

    text = write_report(study, tmp_path / "out").read_text()

    assert (
        "Contour and parallel-coordinate plots not drawn: they need at least 2 parameters with "
        "two or more distinct "
        "values in the completed trials; usable: lr (single-valued: batch_size=16)." in text
    )
    assert 'id="figure-contour' not in text and 'id="figure-parallel"' not in text
    assert 'id="figure-slice"' in text
    assert sorted(p.name for p in (tmp_path / "out").glob("*contour*")) == []


def test_one_row_per_level_up_to_twelve_levels_then_bins(known_data) -> None:
    tables = known_data.marginal

    assert list(tables["hidden_size"]["level"]) == [str(h) for h in HIDDEN_SIZES]
    assert list(tables["embedding_dim"]["level"]) == [str(e) for e in EMBEDDING_DIMS]
    assert list(tables["cell"]["level"]) == ["rnn", "gru", "lstm"]
    assert len(tables["lr"]) == 6  # 48 distinct values: quantile bins
    assert all(tables["lr"]["level"].str.contains("–"))
    frame = pd.DataFrame(
        {
            "number": range(26),
            "value": np.linspace(0, 1, 26),
            "pruned": False,
            "params_twelve": [i % 12 for i in range(26)],
            "params_thirteen": [i % 13 for i in range(26)],
        }
    )
    details = marginal_effect_details(frame, {}, maximize=True)
    assert len(details["twelve"].table) == 12 and not details["twelve"].binned
    assert details["thirteen"].binned


def test_intervals_of_the_do_nothing_parameter_overlap(known_data) -> None:
    nothing = known_data.marginal["embedding_dim"]
    decisive = known_data.marginal["hidden_size"].set_index("level")

    assert nothing["ci_low"].max() < nothing["ci_high"].min()  # one value lies in all
    best = decisive["mean"].idxmax()
    assert best == str(BEST_HIDDEN_SIZE)
    assert decisive.loc[best, "ci_low"] > decisive.loc["8", "ci_high"]


def test_marginal_plot_marks_baseline_counts_and_trials_used(known, known_data) -> None:
    figure = marginal_figure(known_data)

    assert figure is not None
    titles = [a.text for a in figure.plotly.layout.annotations]
    assert titles == known_data.ranked[:4]
    assert any(t.name == "baseline (trial 0)" for t in figure.plotly.data)
    ticks = figure.plotly.layout.xaxis.ticktext
    assert ticks[0] == "8<br>n=7"
    assert "Uses 48 completed trials; pruned trials are not included." in figure.caption
    assert "red star and dotted line are the baseline, trial 0" in figure.caption

    with_pruned = build_report_data(known[0], ReportOptions(top_k=2, include_pruned=True))
    figure = marginal_figure(with_pruned)
    assert figure is not None
    assert [a.text for a in figure.plotly.layout.annotations] == with_pruned.ranked[:2]
    assert "63 trials: 48 completed and 15 pruned" in figure.caption
    assert "last reported" in figure.caption
    assert any(t.name == "pruned trial (last reported value)" for t in figure.plotly.data)
    assert with_pruned.marginal["hidden_size"]["n"].sum() == 63
    assert with_pruned.marginal["hidden_size"]["n_pruned"].sum() == 15


def test_top_k_below_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 1, but got 0"):
        ReportOptions(top_k=0)


def test_importance_disagreement_is_called_out_with_the_trial_count() -> None:
    # The two evaluators of one real study, as the issue saw them.
    importances = {
        "PED-ANOVA": {"embedding_dim": 0.34, "hidden_size": 0.3, "num_layers": 0.14, "lr": 0.1},
        "fANOVA": {"hidden_size": 0.6, "lr": 0.3, "embedding_dim": 0.05, "num_layers": 0.0001},
    }

    lines = importance_disagreements(importances, n_trials=40)

    assert (
        "The importance methods disagree on embedding_dim: 1st by PED-ANOVA (0.34) but 3rd by "
        "fANOVA (0.05)." in lines
    )
    assert (
        "The importance methods disagree on num_layers: 3rd by PED-ANOVA (0.14) but 4th by "
        "fANOVA (0.0001)." in lines
    )
    assert lines[-1].startswith("These importances rest on 40 trials; run more")
    agreeing = {"a": {"x": 0.7, "y": 0.2, "z": 0.1}, "b": {"x": 0.6, "y": 0.3, "z": 0.1}}
    assert importance_disagreements(agreeing, n_trials=40) == []
    noise = {"a": {"x": 0.9, "y": 0.04, "z": 0.01, "w": 0.0}, "b": {"x": 0.9, "w": 0.04}}
    assert importance_disagreements(noise, n_trials=40) == []


def test_best_marker_stays_visible_when_it_is_also_the_cheapest(known, known_data) -> None:
    analysis = known_data.cost_quality["train_seconds"]
    assert analysis.best == analysis.cheapest_within_tolerance  # this study's case

    figures, _ = build_figures(known[0], known_data)
    cost = next(f for f in figures if f.name == "cost-train_seconds").plotly
    names = [t.name for t in cost.data]
    best = names.index("best (also cheapest within 0.005)")
    chosen = names.index("cheapest within 0.005 (= best)")
    assert best > chosen  # drawn on top
    assert cost.data[chosen].marker.symbol == "diamond-open"
    assert cost.data[chosen].marker.size > cost.data[best].marker.size


def test_text_summary_states_the_result_the_cost_and_the_top_parameters(known, known_data) -> None:
    study = known[0]
    best = study.best_trial
    hours = sum(t.user_attrs["train_seconds"] for t in study.trials) / 3600

    text = "\n".join(summary_lines(study, known_data))

    assert (
        f"Best: trial {best.number}, val accuracy {best.value:.4g}, test "
        f"{best.value - 0.02:.4g}; baseline (trial 0) val accuracy {study.trials[0].value:.4g}, "
        "test not evaluated" in text
    )
    assert "63 trials run, 48 complete, 15 pruned." in text
    assert f"{hours:.2f} CPU-hours" in text
    pruned_epochs = 15 * (MAX_EPOCHS - 2)
    assert f"pruning saved {pruned_epochs} of {63 * MAX_EPOCHS} epochs" in text
    assert f"hidden_size (best level {BEST_HIDDEN_SIZE})" in text
    assert "Diminishing returns: none seen by train_seconds" in text


def test_summary_names_the_point_of_diminishing_returns(sqlite_url: str) -> None:
    study = optuna.create_study(
        study_name="cost", storage=storage.open_storage(sqlite_url), direction="maximize"
    )
    distributions = {"hidden_size": FloatDistribution(1, 1000)}
    for accuracy, seconds in [(0.900, 100.0), (0.897, 40.0), (0.800, 10.0), (0.850, 50.0)]:
        study.add_trial(
            create_trial(
                params={"hidden_size": seconds},
                distributions=distributions,
                value=accuracy,
                user_attrs={"train_seconds": seconds, "device": "cuda:0"},
            )
        )

    lines = summary_lines(study, build_report_data(study))

    assert (
        "Diminishing returns: trial 1 reaches 0.897, within 0.005 of the best, at 40% of the "
        "best trial's train_seconds (40 vs 100)." in lines
    )
    assert any(f"{200 / 3600:.2f} GPU-hours" in line for line in lines)
    assert any("no baseline trial" in line for line in lines)


def test_summary_comes_first_and_is_written_as_text(wide_report) -> None:
    _, html_path, _ = wide_report
    text = html_path.read_text()

    summary = (html_path.parent / "summary.txt").read_text()
    assert summary.startswith("Study wide (accuracy, maximize).\nBest: trial ")
    assert text.index('id="summary-text"') < text.index("<h2>Summary</h2>")


def test_readable_ticks() -> None:
    assert log_ticks(1e-5, 1e-1) == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert log_ticks(8, 512) == [10, 20, 50, 100, 200, 500]
    short = log_ticks(30, 60)
    assert 2 <= len(short) <= 3 and all(30 <= t <= 60 for t in short)
    assert integer_ticks(0, 4) == [0, 1, 2, 3, 4]
    assert integer_ticks(0, 49) == [0, 10, 20, 30, 40]


def _overlapping_labels(figure) -> list[tuple[str, str]]:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    clashes = []
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_text()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for i, (text_a, a) in enumerate(boxes):
                clashes += [(text_a, b_text) for b_text, b in boxes[i + 1 :] if a.overlaps(b)]
    return clashes


def test_png_tick_labels_do_not_overlap_and_integer_axes_are_whole(wide_report) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    study, _, data = wide_report
    figures, _ = build_figures(study, data)
    contours = [f.name for f in figures if f.section == "contour"]
    for figure in figures:
        if figure.name not in {"slice", "learning-curves", "marginal-effects", contours[0]}:
            continue
        drawing = figure.draw_png()
        assert _overlapping_labels(drawing) == [], figure.name
        for ax in drawing.axes:
            integer_panel = figure.name == "slice" and ax.get_title() in {
                *["min_freq", "num_layers", "max_length"]
            }
            if integer_panel or ax.get_xlabel() == "epoch":
                labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
                assert labels and all(re.fullmatch(r"\d+", t.split("\n")[0]) for t in labels)
        plt.close(drawing)


def test_slice_png_of_twelve_parameters_is_a_grid(wide_report) -> None:
    image_module = pytest.importorskip("PIL.Image")
    _, html_path, _ = wide_report
    (slice_png,) = html_path.parent.glob("*-slice.png")

    width, height = image_module.open(slice_png).size

    assert width <= 1400
    assert height > width  # 4 rows of 3, not 1 row of 12


_PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const isValue = (v) => (typeof v === 'number' && isFinite(v)) || (typeof v === 'string' && v);
  const count = (a) => (a && typeof a === 'object' && a.length !== undefined)
    ? Array.from(a).reduce((n, v) => n + (typeof v === 'object' && v ? count(v) : isValue(v) ? 1 : 0), 0)
    : 0;
  const figures = Array.from(document.querySelectorAll('.js-plotly-plot')).map((div) => ({
    id: div.id,
    width: div.getBoundingClientRect().width,
    // _fullData holds the decoded arrays (div.data keeps plotly.py's base64 form).
    points: (div._fullData || []).map((t) => count(t.x) + count(t.y) + count(t.z)
      + (t.dimensions || []).reduce((n, d) => n + count(d.values), 0)),
    contourValues: (div._fullData || []).filter((t) => t.type === 'contour').map((t) => count(t.z)),
  }));
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    innerWidth: window.innerWidth,
    figures,
  });
  document.body.appendChild(probe);
}, 500));
</script>"""


def test_twelve_parameter_report_fits_1400_px_and_every_figure_has_data(
    wide_report, tmp_path: Path
) -> None:
    _, html_path, _ = wide_report
    probe_page = html_path.parent / "probe.html"
    probe_page.write_text(html_path.read_text().replace("</body>", _PROBE + "</body>"))

    result = headless_chromium(
        "--window-size=1400,1000",
        "--dump-dom",
        probe_page.as_uri(),
        profile=tmp_path / "chromium-profile",
        budget_ms=15_000,
        timeout=120,
    )

    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    page = json.loads(found.group(1).replace("&quot;", '"'))
    assert page["innerWidth"] == 1400
    assert page["scrollWidth"] <= page["clientWidth"] <= page["innerWidth"]
    names = {figure["id"] for figure in page["figures"]}
    assert {"figure-slice", "figure-marginal-effects", "figure-parallel"} <= names
    assert any(name.startswith("figure-contour") for name in names)
    for figure in page["figures"]:
        assert 0 < figure["width"] <= page["clientWidth"], figure["id"]
        assert sum(figure["points"]) > 0, figure["id"]
        assert all(n > 0 for n in figure["contourValues"]), figure["id"]
        if figure["id"].startswith("figure-contour"):
            assert figure["contourValues"], figure["id"]
        if figure["id"] in {"figure-slice", "figure-marginal-effects"}:
            assert all(n > 0 for n in figure["points"]), figure["id"]  # every panel
    slice_panels = next(f for f in page["figures"] if f["id"] == "figure-slice")["points"]
    assert len(slice_panels) == 12


def test_report_compare_puts_two_studies_side_by_side(known, tmp_path: Path) -> None:
    _, url = known
    other = known_structure_study(url, name="other", seed=1)
    out = tmp_path / "compare"

    result = runner.invoke(
        app, ["report", "--storage", url, "--compare", "known", "other", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert Path(result.output.strip()) == out / "compare.html"
    text = (out / "compare.html").read_text()
    assert "Studies compared: known vs other" in text
    assert f"best accuracy {known[0].best_value:.4g}" in text
    assert f"best accuracy {other.best_value:.4g}" in text
    assert "best so far vs finished trials" in text
    assert "best hidden_size" in text  # the best configurations, row by row
    assert (out / "01-compare.png").stat().st_size > 5000


def test_report_compare_leaves_the_study_from_the_environment_unused(
    known, tmp_path: Path, monkeypatch
) -> None:
    _, url = known
    monkeypatch.setenv("HPSEARCH_STUDY", "known")
    out = tmp_path / "compare"

    result = runner.invoke(
        app, ["report", "--storage", url, "--compare", "known", "other", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert (out / "compare.html").is_file()


def test_report_command_usage_errors_are_one_line_with_exit_code_2(
    known, capsys, monkeypatch
) -> None:
    _, url = known
    for name in [name for name in os.environ if name.startswith("HPSEARCH_")]:
        monkeypatch.delenv(name)  # no study or storage from the environment
    for args, message in [
        (["--study", "known", "--top-k", "0"], "error: top_k (--top-k) must be a whole number"),
        # No --study: the demo study `hpsearch run` makes, as every command reads.
        ([], "error: study 'demo' does not exist in"),
        (
            ["--study", "known", "--compare", "known", "other"],
            "error: --study 'known' and --compare known other ask for two different reports",
        ),
    ]:
        code, _, err = hpsearch(capsys, "report", "--storage", url, *args)
        assert code == 2, err
        assert err.strip().startswith(message)
        assert len(err.strip().splitlines()) == 1


def test_an_imported_nine_level_sweep_keeps_one_row_per_level(
    sqlite_url: str, tmp_path: Path
) -> None:
    from search import import_csv, marginal_effects

    levels = [16, 32, 64, 128, 256, 384, 512, 768, 1024]
    rows = [f"{h},{0.5 + h / 4096 + 0.001 * run:.4f}" for h in levels for run in range(2)]
    path = tmp_path / "sweep.csv"
    path.write_text("hidden_neurons,val_accuracy\n" + "\n".join(rows) + "\n")
    import_csv(path, "sweep", sqlite_url, "val_accuracy", None, "maximize")

    table = marginal_effects(optuna.load_study(study_name="sweep", storage=sqlite_url))[
        "hidden_neurons"
    ]

    assert list(table["level"]) == [str(h) for h in levels]
    assert list(table["n"]) == [2] * 9
