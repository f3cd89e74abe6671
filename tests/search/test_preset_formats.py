"""A preset takes a file in any supported layout: its own format is only a default."""

from __future__ import annotations

import optuna
import pytest
from cli_helpers import hpsearch

from search import load_config

TINY = """
n_trials = 1
epochs = 1
[pruner]
name = "nop"
[space]
cell = "gru"
hidden_size = 8
embedding_dim = 8
batch_size = 64
num_layers = 1
[baseline]  # inside the tiny space
hidden_size = 8
num_layers = 1
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(TINY)
    rows = [
        f"{'good fine great' if i % 2 else 'bad awful poor'} item {i},{i % 2}" for i in range(60)
    ]
    (tmp_path / "mine.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    return tmp_path


@pytest.mark.parametrize("preset", ["ag_news", "trec"])
def test_a_preset_with_the_user_s_own_file_detects_its_layout(folder, preset):
    assert load_config(None, preset=preset, data="mine.csv").task.format == "auto"
    named = load_config(None, preset=preset, data="mine.csv", data_format="table")
    assert named.task.format == "table"


def test_a_preset_keeps_its_format_for_its_own_data():
    assert load_config(None, preset="ag_news").task.format == "ag_news"


def test_ag_news_preset_runs_on_a_text_label_csv(folder, capsys):
    code, _, err = hpsearch(
        capsys,
        "run",
        "--preset",
        "ag_news",
        "-c",
        "tiny.toml",
        "--data",
        "mine.csv",
        "--no-progress",
    )
    assert code == 0, err
    study = optuna.load_study(study_name="ag_news", storage="sqlite:///hpsearch.db")
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
    assert study.user_attrs["hpsearch_config"]["task"]["format"] == "auto"


def test_a_named_format_that_does_not_fit_says_how_to_name_another(folder, capsys):
    code, out, err = hpsearch(
        capsys,
        "run",
        "--preset",
        "ag_news",
        "-c",
        "tiny.toml",
        "--data",
        "mine.csv",
        "--format",
        "ag_news",
        "--no-progress",
    )
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "AG News rows have 3 columns" in line and "this file has 2" in line
    assert "--format" in line and "auto, table, trec, ag_news" in line
