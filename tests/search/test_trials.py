"""``hpsearch trials``: the study's trials as one flat table."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
from typer.testing import CliRunner

import storage
from search._trials import trials_table
from search.cli import app
from search.errors import StudyError

runner = CliRunner()


def _study(sqlite_url: str, name: str = "t") -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage.open_storage(sqlite_url))
    for index in range(3):
        trial = study.ask()
        trial.suggest_categorical("cell", ["gru", "lstm"])
        if index:  # a conditional parameter: absent from the first trial
            trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        trial.set_user_attr("train_seconds", 10.0 * index)
        trial.set_user_attr("val_history", [{"epoch": 0, "accuracy": 0.5}])
        trial.set_user_attr("data", {"name": "imdb", "rows": 100})
        study.tell(trial, 0.1 * index)
    return study


def test_table_flattens_user_attributes(sqlite_url: str) -> None:
    table = trials_table(_study(sqlite_url))

    assert list(table["number"]) == [0, 1, 2]
    assert list(table["user_attrs_train_seconds"]) == [0.0, 10.0, 20.0]
    assert table.loc[0, "user_attrs_data.name"] == "imdb"
    assert json.loads(table.loc[0, "user_attrs_val_history"]) == [{"epoch": 0, "accuracy": 0.5}]
    assert "params_cell" in table


def test_trials_command_prints_what_a_person_reads(sqlite_url: str) -> None:
    _study(sqlite_url)

    result = runner.invoke(app, ["trials", "--study", "t", "--storage", sqlite_url])

    assert result.exit_code == 0, result.output
    header, *rows = result.output.strip().splitlines()
    assert header.split() == ["number", "state", "value", "seconds", "cell", "weight_decay"]
    assert len(rows) == 3
    assert rows[0].split()[-1] == "-"  # the parameter trial 0 did not have
    # Each number to 4 significant digits on its own, not padded to its column's longest.
    decays = [row.split()[-1] for row in rows[1:]]
    for decay in decays:
        digits = decay.split("e")[0].replace(".", "").lstrip("0")
        assert 1 <= len(digits) <= 4 and not digits.endswith("0"), decays
    assert [row.split()[2] for row in rows] == ["0", "0.1", "0.2"]  # values 0.0, 0.1, 0.2
    # The histories and attributes are in the CSV, not on the terminal.
    assert "val_history" not in result.output and "epoch" not in result.output


def test_trials_command_reads_the_demo_study_by_default(
    sqlite_url: str, monkeypatch, tmp_path: Path
) -> None:
    for name in ("HPSEARCH_STUDY", "HPSEARCH_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    _study(sqlite_url, name="demo")

    result = runner.invoke(app, ["trials", "--storage", sqlite_url])

    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 4  # header + 3 trials


def test_trials_command_writes_csv_that_reads_back(sqlite_url: str, tmp_path: Path) -> None:
    _study(sqlite_url)
    path = tmp_path / "trials.csv"

    result = runner.invoke(
        app, ["trials", "--study", "t", "--storage", sqlite_url, "--csv", str(path)]
    )

    assert result.exit_code == 0, result.output
    assert "3 trials written" in result.output
    frame = pd.read_csv(path)
    assert len(frame) == 3 and "user_attrs_data.rows" in frame


def test_study_from_the_environment(sqlite_url: str, monkeypatch) -> None:
    _study(sqlite_url)
    monkeypatch.setenv("HPSEARCH_STUDY", "t")
    monkeypatch.setenv("HPSEARCH_STORAGE", sqlite_url)

    result = runner.invoke(app, ["trials"])

    assert result.exit_code == 0, result.output


def test_missing_study_is_a_study_error(sqlite_url: str) -> None:
    result = runner.invoke(app, ["trials", "--study", "absent", "--storage", sqlite_url])

    assert isinstance(result.exception, StudyError)
