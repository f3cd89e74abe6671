"""Reports of studies the pruner stopped early: compared at an epoch the trials reached."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from search import build_report_data
from search._report import ReportOptions
from search._report_figures import build_figures
from search._report_html import write_report
from search._report_text import summary_lines


def _pruned_study(n_trials: int = 20, pruned_epochs: int = 2) -> optuna.Study:
    """Trial 0 completes 10 epochs; the others are pruned after ``pruned_epochs``.

    Early accuracy rises with ``lr`` (its importance) and does not depend on ``hidden_size``.
    """
    study = optuna.create_study(direction="maximize", study_name="pruned")
    distributions = {
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "hidden_size": IntDistribution(16, 256),
    }
    for number in range(n_trials):
        lr = 1e-4 * 1000 ** (((number * 7) % n_trials) / (n_trials - 1))
        hidden = 16 + (number * 13) % 240
        epochs = 10 if number == 0 else pruned_epochs
        curve = {step: min(0.99, 0.3 + lr * 5 + 0.02 * step) for step in range(epochs)}
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE if number == 0 else TrialState.PRUNED,
                value=max(curve.values()) if number == 0 else None,
                params={"lr": lr, "hidden_size": hidden},
                distributions=distributions,
                intermediate_values=curve,
                user_attrs={"train_seconds": float(epochs), "epochs_run": epochs},
            )
        )
    return study


def test_a_mostly_pruned_study_is_compared_at_the_epoch_its_trials_reached() -> None:
    study = _pruned_study()

    data = build_report_data(study)

    assert data.common_epoch == 2
    assert len(data.effect_frame) == 20 and not data.effect_frame["pruned"].any()
    assert set(data.importances) == {"PED-ANOVA", "fANOVA"}
    assert max(data.importances["fANOVA"], key=data.importances["fANOVA"].get) == "lr"
    assert data.ranked[0] == "lr"
    # The marginal effects count every trial at its epoch-2 value, not the one completed.
    assert int(data.marginal["hidden_size"]["n"].sum()) == 20
    figures, notes = build_figures(study, data)
    assert {"importance", "contour-lr-hidden_size", "slice", "parallel"} <= {
        figure.name for figure in figures
    }
    assert not notes
    (slice_,) = [figure for figure in figures if figure.name == "slice"]
    assert "(20 trials at epoch 2)" in slice_.plotly.layout.title.text
    lines = summary_lines(study, data)
    assert any(line.startswith("Compared at epoch 2: 20 trials reached it") for line in lines)
    assert any(
        line.startswith("Most important parameters by importance at epoch 2: lr") for line in lines
    )


def test_include_pruned_keeps_the_last_value_of_each_trial_instead() -> None:
    data = build_report_data(_pruned_study(), ReportOptions(include_pruned=True))

    assert data.common_epoch is None and data.analysis_study is None
    assert int(data.effect_frame["pruned"].sum()) == 19


def test_too_few_trials_at_any_epoch_still_says_why_importances_are_missing() -> None:
    data = build_report_data(_pruned_study(n_trials=6))

    assert data.common_epoch is None and not data.importances
    assert "Importances not computed: 1 completed trials, need at least 8." in data.notes


def test_a_report_rewritten_into_its_folder_leaves_no_figure_of_the_earlier_one(
    tmp_path: Path,
) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "14-contour-a-b.png").write_bytes(b"an earlier report's figure")
    (out / "notes.png").write_bytes(b"the user's own file")

    write_report(_pruned_study(), out)

    assert not (out / "14-contour-a-b.png").exists()
    assert (out / "notes.png").read_bytes() == b"the user's own file"
    assert (out / "01-history.png").stat().st_size > 1000
    assert "Compared at epoch 2" in (out / "summary.txt").read_text()
