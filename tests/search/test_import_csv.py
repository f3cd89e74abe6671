"""Importing old sweeps' CSV tables as COMPLETE trials."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from typer.testing import CliRunner

from search._import_csv import import_csv, infer_distribution
from search.cli import app
from search.errors import ConfigError, StudyError

runner = CliRunner()

# Shape (a): the k-fold grid search, durations as pandas Timedelta text, one value missing.
FOLD_GRID = """\
,fold,token,char,hidden,batch,pretrained,best_epoch,training_duration,validation_accuracy,validation_accuracy3
0,0,True,False,64,32,True,5,0 days 00:04:50.368217,0.912,0.95
1,1,True,False,64,32,True,6,0 days 00:05:10.100000,0.905,0.94
2,0,False,True,256,64,False,3,0 days 00:02:10.500000,0.881,0.93
3,1,False,True,256,64,False,4,0 days 00:02:20.500000,,0.92
4,0,True,True,1024,128,True,7,0 days 00:09:00,0.921,0.96
"""

# Shape (b): one-factor sweeps.
ONE_FACTOR = {
    "hidden_neurons": [16, 64, 256, 1024],
    "learning_rate": [0.0001, 0.001, 0.01, 0.1],
    "batch_size": [16, 32, 64, 128],
}


def _one_factor_csv(tmp_path: Path, factor: str) -> Path:
    path = tmp_path / f"{factor}.csv"
    pd.DataFrame(
        {
            factor: ONE_FACTOR[factor],
            "loss": [0.6, 0.4, 0.3, 0.5],
            "accuracy": [0.7, 0.85, 0.9, 0.8],
            "val_loss": [0.65, 0.45, 0.4, 0.6],
            "val_accuracy": [0.68, 0.83, 0.86, 0.77],
        }
    ).to_csv(path, index=False)
    return path


def _import(path: Path, sqlite_url: str, study: str, *extra: str) -> str:
    result = runner.invoke(
        app,
        ["import-csv", str(path), "--study", study, "--storage", sqlite_url, *extra],
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_fold_grid_becomes_complete_trials_with_inferred_distributions(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "grid.csv"
    path.write_text(FOLD_GRID)

    output = _import(path, sqlite_url, "grid", "--value-column", "validation_accuracy")

    assert "4 trials added" in output and "1 with no validation_accuracy" in output
    study = optuna.load_study(study_name="grid", storage=sqlite_url)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4
    first = trials[0]
    assert first.params == {
        "token": True,
        "char": False,
        "hidden": 64,
        "batch": 32,
        "pretrained": True,
    }
    assert first.distributions["token"] == CategoricalDistribution([False, True])
    assert first.distributions["hidden"] == IntDistribution(64, 1024, log=False)
    assert first.value == pytest.approx(0.912)
    assert first.user_attrs["train_seconds"] == pytest.approx(290.368217)
    assert first.user_attrs["source"] == "csv:grid.csv"
    assert first.user_attrs["fold"] == 0
    assert first.user_attrs["validation_accuracy3"] == pytest.approx(0.95)
    assert study.user_attrs["metric"] == "validation_accuracy"


def test_reimporting_the_same_file_adds_nothing(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "grid.csv"
    path.write_text(FOLD_GRID)
    _import(path, sqlite_url, "grid", "--value-column", "validation_accuracy")

    output = _import(path, sqlite_url, "grid", "--value-column", "validation_accuracy")

    assert "0 trials added" in output and "skipped 4 already imported" in output
    assert len(optuna.load_study(study_name="grid", storage=sqlite_url).trials) == 4


@pytest.mark.parametrize("factor", sorted(ONE_FACTOR))
def test_one_factor_tables_import_the_factor_only(
    sqlite_url: str, tmp_path: Path, factor: str
) -> None:
    path = _one_factor_csv(tmp_path, factor)

    _import(path, sqlite_url, factor, "--value-column", "val_accuracy")

    trials = optuna.load_study(study_name=factor, storage=sqlite_url).trials
    assert [set(t.params) for t in trials] == [{factor}] * 4
    assert {"loss", "accuracy", "val_loss"} <= set(trials[0].user_attrs)
    distribution = trials[0].distributions[factor]
    if factor == "learning_rate":
        assert distribution == FloatDistribution(0.0001, 0.1, log=True)
    elif factor == "hidden_neurons":
        assert distribution == IntDistribution(16, 1024, log=False)
    else:
        assert distribution == IntDistribution(16, 128, log=False)


def test_report_works_on_an_imported_study(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "grid.csv"
    path.write_text(FOLD_GRID)
    _import(path, sqlite_url, "grid", "--value-column", "validation_accuracy")
    out = tmp_path / "report"

    result = runner.invoke(
        app, ["report", "--study", "grid", "--storage", sqlite_url, "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    text = (out / "report.html").read_text()
    assert "validation_accuracy vs train_seconds" in text  # durations became costs
    assert "Importances not computed: 4 completed trials" in text


def test_new_trials_run_in_an_imported_study(sqlite_url: str, tmp_path: Path) -> None:
    _import(
        _one_factor_csv(tmp_path, "learning_rate"),
        sqlite_url,
        "lr",
        "--value-column",
        "val_accuracy",
    )
    study = optuna.load_study(
        study_name="lr",
        storage=sqlite_url,
        sampler=optuna.samplers.TPESampler(n_startup_trials=2, seed=0),
    )

    study.optimize(
        lambda trial: 1.0 - abs(trial.suggest_float("learning_rate", 1e-4, 0.1, log=True) - 0.01),
        n_trials=3,
    )

    assert len(study.trials) == 7
    assert study.trials[-1].distributions == study.trials[0].distributions


def test_param_columns_and_direction_options(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "grid.csv"
    path.write_text(FOLD_GRID)

    result = import_csv(
        path, "loss", sqlite_url, "validation_accuracy", ["hidden", "batch"], "maximize"
    )

    assert result.params == ["hidden", "batch"]
    assert "token" in result.user_attrs
    with pytest.raises(StudyError, match="--direction maximize"):
        import_csv(path, "loss", sqlite_url, "validation_accuracy", None, "minimize")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("nope", None, "maximize"), "--value-column 'nope' is not in"),
        (("validation_accuracy", ["hiden"], "maximize"), "--param-columns names 'hiden'"),
        (("validation_accuracy", None, "up"), "--direction 'up' is not accepted"),
    ],
)
def test_bad_options_name_the_value_and_what_is_accepted(
    sqlite_url: str, tmp_path: Path, arguments: tuple, message: str
) -> None:
    path = tmp_path / "grid.csv"
    path.write_text(FOLD_GRID)

    with pytest.raises(ConfigError, match=message):
        import_csv(path, "bad", sqlite_url, *arguments)


def test_missing_file_is_a_config_error(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        import_csv(tmp_path / "absent.csv", "s", sqlite_url, "v")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1e-5, 1e-3, 1e-2], FloatDistribution(1e-5, 1e-2, log=True)),
        ([0.1, 0.3, 0.5], FloatDistribution(0.1, 0.5, log=False)),
        ([1, 2, 3], IntDistribution(1, 3)),
        ([1, 100, 1000], IntDistribution(1, 1000, log=True)),
        (["lstm", "gru"], CategoricalDistribution(["gru", "lstm"])),
        ([True, False], CategoricalDistribution([False, True])),
    ],
)
def test_infer_distribution(values: list, expected: object) -> None:
    assert infer_distribution(pd.Series(values)) == expected
