"""Reports built from ask/tell studies whose structure is known in advance."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import optuna
import pytest
from browser import headless_chromium
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from plotly.offline import get_plotlyjs
from report_studies import copy_to
from typer.testing import CliRunner

import storage
from search import (
    build_report_data,
    cost_quality,
    family_comparison,
    marginal_effect_ranges,
    marginal_effects,
    non_dominated,
    param_importances,
    summarize_study,
)
from search._report_html import write_report
from search.cli import app
from search.errors import StudyError

runner = CliRunner()


@pytest.fixture(scope="module")
def structured(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    """The 60-trial structured study, built once per module; tests only read it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('structured') / 'studies.db'}"
    return _structured_study(url), url


@pytest.fixture(scope="module")
def structured_report(structured, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``hpsearch report`` of the structured study, written once (its PNGs take seconds).

    Returns:
        (the folder given as ``--out``, the command's output).
    """
    out = tmp_path_factory.mktemp("structured-report") / "report"
    result = runner.invoke(
        app, ["report", "--study", "structured", "--storage", structured[1], "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def _structured_study(sqlite_url: str, n_trials: int = 60) -> optuna.Study:
    """Accuracy rises with ``strong`` and ignores ``irrelevant``; every third trial pruned."""
    # Built in memory, then copied: told straight into SQLite, each report is a commit.
    study = optuna.create_study(
        study_name="structured",
        storage=optuna.storages.InMemoryStorage(),
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.set_user_attr("metric", "accuracy")
    study.set_user_attr("max_epochs", 5)
    rng = np.random.default_rng(0)
    for index in range(n_trials):
        trial = study.ask()
        strong = trial.suggest_float("strong", 0.0, 1.0)
        trial.suggest_float("irrelevant", 0.0, 1.0)
        trial.suggest_categorical("cell", ["rnn", "gru", "lstm"])
        accuracy = 0.5 + 0.4 * strong + float(rng.normal(0, 0.002))
        pruned = index % 3 == 2
        for epoch in range(2 if pruned else 5):
            trial.report(accuracy * (epoch + 1) / 5, epoch)
        trial.set_user_attr("train_seconds", 10.0 + 100.0 * strong)
        trial.set_user_attr("n_parameters", int(1000 + 5000 * strong))
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, accuracy)
    return copy_to(study, sqlite_url)


def test_importance_ranks_strong_parameter_first_in_both_evaluators(structured) -> None:
    importances, notes = param_importances(structured[0])

    assert set(importances) == {"PED-ANOVA", "fANOVA"}, notes
    for evaluator, values in importances.items():
        assert values["strong"] > values["irrelevant"], evaluator
        assert max(values, key=values.get) == "strong", evaluator


def test_marginal_table_shows_the_strong_effect(structured) -> None:
    tables = marginal_effects(structured[0])

    strong = tables["strong"]
    assert list(strong.columns) == [
        *["level", "n", "n_pruned", "mean", "ci_low", "ci_high", "std", "min", "max", "best"]
    ]
    assert (strong["ci_low"] < strong["mean"]).all() and (strong["mean"] < strong["ci_high"]).all()
    assert strong["mean"].is_monotonic_increasing
    assert (strong["best"] == strong["max"]).all()  # maximize: the best is the largest
    assert strong["n"].sum() == 40  # every completed trial is in exactly one bin
    assert list(tables["cell"]["level"]) == ["rnn", "gru", "lstm"]
    ranges = marginal_effect_ranges(tables)
    assert ranges.index[0] == "strong"
    assert ranges["strong"] > 3 * ranges["irrelevant"]


def test_summary_counts_states_time_and_pruner_savings(sqlite_url: str) -> None:
    summary = summarize_study(_structured_study(sqlite_url, n_trials=6))

    assert summary["states"] == {"COMPLETE": 4, "PRUNED": 2}
    assert summary["n_with_train_seconds"] == 6
    # 4 full runs of 5 epochs + 2 pruned after 2 of 5 epochs.
    assert summary["epochs_run"] == 4 * 5 + 2 * 2
    assert summary["epochs_full_budget"] == 6 * 5
    assert summary["epochs_saved_by_pruner"] == 2 * 3
    assert set(summary["best_params"]) == {"strong", "irrelevant", "cell"}


def test_non_dominated_matches_the_definition() -> None:
    points = np.random.default_rng(1).integers(0, 6, size=(40, 2)).astype(float)
    minimize = [False, True]  # maximize quality, minimize cost

    def dominates(a: np.ndarray, b: np.ndarray) -> bool:
        no_worse = a[0] >= b[0] and a[1] <= b[1]
        return bool(no_worse and (a[0] > b[0] or a[1] < b[1]))

    expected = [not any(dominates(q, p) for q in points) for p in points]
    assert non_dominated(points, minimize).tolist() == expected


def test_multi_objective_pareto_front_is_exactly_the_non_dominated_trials(
    sqlite_url: str,
) -> None:
    study = optuna.create_study(
        study_name="mo",
        storage=storage.open_storage(sqlite_url),
        directions=["maximize", "minimize"],
    )
    study.set_user_attr("metric_names", ["accuracy", "train_seconds"])
    values = [(0.9, 100.0), (0.85, 40.0), (0.85, 60.0), (0.7, 10.0), (0.6, 20.0), (0.9, 120.0)]
    distributions = {"x": FloatDistribution(0, 1)}
    for accuracy, seconds in values:
        study.add_trial(
            create_trial(
                params={"x": accuracy}, distributions=distributions, values=[accuracy, seconds]
            )
        )

    data = build_report_data(study)

    assert data.pareto_front == [0, 1, 3]
    assert data.metric_names == ["accuracy", "train_seconds"]


def test_cheapest_configuration_within_half_a_point_is_named(sqlite_url: str) -> None:
    study = optuna.create_study(
        study_name="cost", storage=storage.open_storage(sqlite_url), direction="maximize"
    )
    distributions = {"hidden_size": FloatDistribution(1, 1000)}
    # (accuracy, seconds): 0.897 is within 0.005 of 0.900 and far cheaper.
    rows = [(0.900, 100.0), (0.897, 40.0), (0.800, 10.0), (0.850, 50.0), (0.894, 30.0)]
    for accuracy, seconds in rows:
        study.add_trial(
            create_trial(
                params={"hidden_size": seconds},
                distributions=distributions,
                value=accuracy,
                user_attrs={"train_seconds": seconds},
            )
        )

    analysis = cost_quality(study, "train_seconds")

    assert analysis is not None
    assert analysis.tolerance == pytest.approx(0.005)
    assert analysis.best == 0
    assert analysis.cheapest_within_tolerance == 1
    assert analysis.front == [2, 4, 1, 0]  # cheapest first; trial 3 is dominated by 1
    assert cost_quality(study, "n_parameters") is None


def test_family_comparison_gives_best_and_median_per_cell(sqlite_url: str) -> None:
    study = optuna.create_study(storage=storage.open_storage(sqlite_url), direction="maximize")
    distributions = {"cell": CategoricalDistribution(["rnn", "gru", "lstm"])}
    for cell, value in [("rnn", 0.6), ("rnn", 0.7), ("gru", 0.8), ("gru", 0.9), ("gru", 0.85)]:
        study.add_trial(
            create_trial(params={"cell": cell}, distributions=distributions, value=value)
        )

    table = family_comparison(study).set_index("family")

    assert table.loc["gru", "best"] == 0.9
    assert table.loc["gru", "median"] == 0.85
    assert table.loc["rnn", "best"] == 0.7
    assert "lstm" not in table.index


def test_report_of_a_tiny_one_parameter_study_notes_what_is_missing(
    sqlite_url: str, tmp_path: Path
) -> None:
    study = optuna.create_study(study_name="tiny", storage=storage.open_storage(sqlite_url))
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=2)

    path = write_report(study, tmp_path / "out")

    text = path.read_text()
    assert "Importances not computed: 2 completed trials" in text
    assert (
        "Contour and parallel-coordinate plots not drawn: they need at least 2 parameters with "
        "two or more distinct "
        "values in the completed trials; usable: lr." in text
    )
    assert "Model family comparison not shown" in text


def test_report_of_a_study_with_no_completed_trials(sqlite_url: str, tmp_path: Path) -> None:
    study = optuna.create_study(study_name="empty", storage=storage.open_storage(sqlite_url))
    study.tell(study.ask(), state=TrialState.FAIL)

    text = write_report(study, tmp_path / "out").read_text()

    assert "No completed trials yet" in text


def test_report_command_writes_offline_html_and_pngs(structured_report) -> None:
    out, output = structured_report
    html_path = Path(output.strip())
    assert html_path == out / "report.html"
    text = html_path.read_text()
    assert "<script src=" not in text  # nothing is fetched when the file opens
    assert get_plotlyjs()[:2000] in text  # plotly.js itself is inlined
    for heading in ["Marginal effects", "Cost vs quality", "Model families", "PED-ANOVA"]:
        assert heading in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"01-history.png", "02-learning-curves.png", "03-importance.png"} <= set(pngs)
    assert any(name.endswith("cost-train_seconds.png") for name in pngs)
    assert all((out / name).stat().st_size > 5000 for name in pngs)


def test_report_command_names_a_missing_study(sqlite_url: str, tmp_path: Path) -> None:
    _structured_study(sqlite_url, n_trials=3)

    result = runner.invoke(app, ["report", "--study", "nope", "--storage", sqlite_url])

    assert isinstance(result.exception, StudyError)
    assert "'nope'" in str(result.exception) and "structured" in str(result.exception)


def test_report_renders_in_headless_chromium(structured_report, tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    html_path = structured_report[0] / "report.html"
    screenshot = tmp_path / "screenshot.png"

    result = headless_chromium(
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        html_path.as_uri(),
        profile=tmp_path / "chromium-profile",
        budget_ms=5000,  # lets plotly's scripts finish drawing before the screenshot
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

    pixels = np.asarray(image_module.open(screenshot).convert("RGB"))
    non_white = np.any(pixels < 250, axis=2).mean()
    # Plotly paints every plot area in its template's background colour #E5ECF6; a page
    # whose charts failed to draw has the text and tables but none of this colour.
    plot_area = np.all(pixels == (229, 236, 246), axis=2).mean()
    assert non_white > 0.10
    assert plot_area > 0.05


@pytest.mark.parametrize("n_bins", [2, 4])
def test_marginal_bins_cover_all_completed_trials(structured, n_bins: int) -> None:
    tables = marginal_effects(structured[0], n_bins=n_bins)

    for name, table in tables.items():
        assert table["n"].sum() == 40, name
        assert len(table) <= max(n_bins, 3), name


def test_most_important_pairs_are_distinct(structured) -> None:
    from search._report_effects import most_important_pairs

    importances, _ = param_importances(structured[0])
    pairs = most_important_pairs(importances)

    assert len(pairs) == 3
    assert all(a != b for a, b in pairs)
    assert len(set(itertools.chain.from_iterable(pairs))) == 3
