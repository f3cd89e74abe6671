"""The small things a new user trips on: stray files, misleading messages, other databases."""

from __future__ import annotations

import subprocess
from pathlib import Path

import optuna
import pytest
from cli_helpers import hpsearch
from optuna.artifacts import get_all_artifact_meta

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err.strip()


@pytest.mark.parametrize("command", ["status", "best", "trials", "report"])
def test_reading_commands_in_the_wrong_folder_create_no_database(folder, capsys, command):
    code, _, err = hpsearch(capsys, command, "--study", "demo")
    assert "study 'demo' does not exist in sqlite:///hpsearch.db" in _one_line_error(code, err)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("files", "args"),
    [
        ({"empty.csv": "text,label\n"}, ["--data", "empty.csv"]),
        ({"one.csv": "text,label\na,x\nb,x\n"}, ["--data", "one.csv"]),
        ({}, ["--data", "missing.csv"]),
    ],
)
def test_a_run_that_fails_before_its_first_trial_leaves_no_new_file(folder, capsys, files, args):
    for name, text in files.items():
        (folder / name).write_text(text)
    code, _, err = hpsearch(capsys, "run", "--no-progress", *args)
    _one_line_error(code, err)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)


def test_a_folder_given_as_data_is_called_a_folder(folder, capsys):
    (folder / "corpus").mkdir()
    code, _, err = hpsearch(capsys, "run", "--no-progress", "--data", "corpus")
    assert "data file 'corpus' is a folder, not a file; give the file inside it" in (
        _one_line_error(code, err)
    )
    code, _, err = hpsearch(capsys, "run", "--no-progress", "--task", "ner", "--data", "corpus")
    assert "tagged corpus file" in _one_line_error(code, err) and "is a folder" in err


def test_trials_csv_into_a_missing_folder_is_one_line_and_writes_nothing(tiny, capsys):
    assert hpsearch(capsys, "run", "-c", "tiny.toml", "--no-progress")[0] == 0
    code, _, err = hpsearch(capsys, "trials", "--study", "demo", "--csv", "out/trials.csv")
    message = _one_line_error(code, err)
    assert f"folder '{tiny / 'out'}' does not exist" in message
    assert not (tiny / "out").exists()
    code, out, _ = hpsearch(capsys, "trials", "--study", "demo", "--csv", "trials.csv")
    assert code == 0 and "2 trials written to trials.csv" in out


def test_a_preset_with_another_task_names_the_mismatch_not_a_hidden_setting(folder, capsys):
    (folder / "t.iob").write_text("a O\nb B-PER\n\n")
    code, _, err = hpsearch(
        capsys, "run", "--preset", "trec", "--task", "ner", "--data", "t.iob", "--no-progress"
    )
    message = _one_line_error(code, err)
    assert "preset 'trec' is for task 'classification', but --task is 'ner'" in message
    assert "presets for 'ner': conll2003, ner_uk" in message and "format" not in message


def test_checkpoints_are_uploaded_as_binary_not_guessed_from_pt(tiny, capsys):
    assert hpsearch(capsys, "run", "-c", "tiny.toml", "--no-progress")[0] == 0
    study = optuna.load_study(study_name="demo", storage="sqlite:///hpsearch.db")
    metas = [m for t in study.trials for m in get_all_artifact_meta(t, storage=study._storage)]
    assert metas and {m.mimetype for m in metas} == {"application/octet-stream"}
    assert study.metric_names == ["accuracy"]  # named for the dashboard and `optuna best-trial`


def test_env_files_and_reports_are_ignored_by_git():
    for path in (".env", "report-demo/index.html"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True, check=False
        )
        assert result.returncode == 0, f"{path} is not git-ignored"


def test_a_study_runs_on_mysql_or_mariadb(tiny, capsys, mysql_url):
    names = ["--study", "maria", "--storage", mysql_url]
    code, out, err = hpsearch(capsys, "run", "-c", "tiny.toml", *names, "--no-progress")
    assert code == 0, err
    assert "2 of 2 trials finished" in out
    code, out, _ = hpsearch(capsys, "status", *names)
    assert code == 0 and "complete 2 (budget 2)" in out
    assert len(optuna.load_study(study_name="maria", storage=mysql_url).trials) == 2
