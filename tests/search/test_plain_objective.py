"""A plain Optuna objective run as an hpsearch study: `search.run` and `--objective`."""

from __future__ import annotations

import optuna
import pytest
import torch
from cli_helpers import hpsearch
from optuna.trial import TrialState

import search
from search._checkpoints import CheckpointStore

QUADRATIC = """
def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2
"""


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def fit_and_keep(trial: optuna.Trial) -> tuple[float, dict]:
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2, {"weights": torch.tensor([x]), "trained_on": "quadratic"}


def test_a_checkpoint_returned_after_the_value_is_kept_for_the_best_trials(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_ARTIFACTS", str(tmp_path / "artifacts"))
    url = f"sqlite:///{tmp_path}/kept.db"
    config = {"study": "k", "storage": url, "n_trials": 8, "keep_checkpoints": 2}
    summary = search.run(fit_and_keep, config)

    study = optuna.load_study(study_name="k", storage=url)
    assert summary.counts["COMPLETE"] == 8
    # The value is what Optuna stores; the dict went to the artifact store.
    assert study.best_value == pytest.approx((study.best_params["x"] - 2) ** 2)
    checkpoint = search.load_best_checkpoint("k", url)
    assert checkpoint["weights"].item() == pytest.approx(study.best_params["x"])
    assert checkpoint["trained_on"] == "quadratic"
    store = CheckpointStore(tmp_path / "artifacts" / "k")
    kept = [t.number for t in study.trials if store.has(t)]
    best_two = sorted(study.trials, key=lambda t: t.value)[:2]
    assert sorted(kept) == sorted(t.number for t in best_two)


def test_a_plain_value_keeps_no_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_ARTIFACTS", str(tmp_path / "artifacts"))
    url = f"sqlite:///{tmp_path}/none.db"
    search.run(objective, {"study": "n", "storage": url, "n_trials": 2})
    with pytest.raises(search.StudyError, match="has no saved model"):
        search.load_best_checkpoint("n", url)


def test_search_run_runs_a_function_to_the_budget(tmp_path):
    url = f"sqlite:///{tmp_path}/plain.db"
    summary = search.run(objective, {"study": "q", "storage": url, "n_trials": 12})
    study = optuna.load_study(study_name="q", storage=url)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 12
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # Optuna's default
    assert summary.best_value == study.best_value < 10
    assert study.user_attrs["hpsearch_config"]["objective"].endswith(":objective")

    again = search.run(
        objective, {"study": "q", "storage": url, "n_trials": 15}, update_config=True
    )
    assert again.counts["COMPLETE"] == 15  # the budget is the study's: 3 more


def test_cli_runs_module_function_and_rejects_bad_references(tmp_path, monkeypatch, capsys):
    (tmp_path / "mytrain.py").write_text(QUADRATIC)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    code, out, err = hpsearch(
        capsys,
        "run",
        "--objective",
        "mytrain:objective",
        "--study",
        "q",
        "--storage",
        url,
        "--n-trials",
        "5",
        "--no-progress",
    )
    assert code == 0, err
    assert "5 of 5 trials finished" in out and "best value:" in out

    for reference, message in [
        ("mytrain:nothere", "objective 'mytrain:nothere': 'mytrain' has no 'nothere'"),
        ("nomodule:objective", "objective 'nomodule:objective': module 'nomodule' cannot be"),
        ("mytrain", "objective 'mytrain' must look like module:name"),
    ]:
        code, _, err = hpsearch(
            capsys, "run", "--objective", reference, "--storage", f"sqlite:///{tmp_path}/b.db"
        )
        assert code == 2 and err.startswith(f"error: {message}"), err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.db").exists()
