"""NER, POS and tabular studies from the command line on tiny real slices; presets; errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import optuna
import pytest
import torch
from cli_helpers import hpsearch

import search
from objectives import encode_sentences
from search._presets import load_config, preset_names

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

TINY_TAGGER = """
n_trials = 2
epochs = 2
[pruner]
name = "nop"
[space]
hidden_size = 16
embedding_dim = 16
batch_size = 32
num_layers = 1
char_embedding_dim = {type = "int", low = 0, high = 16, step = 16}
char_hidden_size = 8
lr = 0.01
scheduler = {type = "categorical", choices = ["none", "cosine"]}
"""
needs_datasets = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent")


def head(source, target, n_sentences):
    lines, blocks = [], 0
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            if not line.strip() and len(lines) > 1 and lines[-2].strip():
                blocks += 1
                if blocks >= n_sentences:
                    break
    target.write_text("".join(lines), encoding="utf-8")
    return target


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tagger.toml").write_text(TINY_TAGGER)
    return tmp_path


@needs_datasets
def test_ner_study_end_to_end_on_conll2003(folder, capsys):
    head(SHARED / "conll2003_en" / "eng.train.gz", folder / "train.txt", 80)
    head(SHARED / "conll2003_en" / "eng.testb.gz", folder / "test.txt", 30)
    args = ["--config", "tagger.toml", "--task", "ner", "--data", "train.txt"]
    code, out, err = hpsearch(capsys, "run", *args, "--test-data", "test.txt", "--no-progress")
    assert code == 0, err
    assert "2 of 2 trials finished" in out
    code, out, err = hpsearch(capsys, "best", "--evaluate-test", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert set(record["test"]) >= {"f1", "precision", "recall", "per_type_f1"}
    from objectives.data._readers import read_tagged_file

    assert record["test"]["n_test"] == len(read_tagged_file(folder / "test.txt"))
    assert "per_type_f1" in record["user_attrs"]
    model, info = search.load_best_model("demo", "sqlite:///hpsearch.db")
    ids, lengths, chars = encode_sentences([["EU", "rejects", "German", "call"]], info)
    assert model(ids, lengths, chars).shape == (1, 4, len(info["label_names"]))
    assert info["scheme"] == "IOB1"


@needs_datasets
def test_pos_study_on_ud_ewt_conllu(folder, capsys):
    head(SHARED / "ud_english_ewt" / "en_ewt-ud-dev.conllu.gz", folder / "d.conllu", 120)
    code, out, err = hpsearch(
        capsys,
        "run",
        "--config",
        "tagger.toml",
        "--task",
        "pos",
        "--data",
        "d.conllu",
        "--no-progress",
    )
    assert code == 0, err
    trial = search.best_trial("demo", "sqlite:///hpsearch.db")
    assert 0 < trial.value <= 1 and "top3_accuracy" in trial.user_attrs["best_metrics"]


def test_tabular_preset_with_baseline_first_and_folds(folder, capsys):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame.to_csv(folder / "iris.csv", index=False)
    args = ["--preset", "tabular", "--data", "iris.csv", "--label-column", "species"]
    code, out, err = hpsearch(
        capsys, "run", *args, "--n-trials", "2", "--epochs", "3", "--folds", "2",
        "--enqueue-baseline", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    study = optuna.load_study(study_name="tabular", storage="sqlite:///hpsearch.db")
    first = study.trials[0]
    assert first.user_attrs["baseline"] is True
    assert first.params["hidden_size_1"] == 64 and first.params["n_layers"] == 2
    assert len(first.user_attrs["fold_values"]) == 2
    model, info = search.load_best_model("tabular", "sqlite:///hpsearch.db")
    assert info["kind"] == "mlp_classifier" and len(info["feature_names"]) == 4
    assert model(torch.zeros(1, 4)).shape == (1, 3)


@needs_datasets
def test_trec_and_ag_news_real_files_read_as_classification(folder, capsys):
    lines = (SHARED / "trec" / "train_5500.label").read_bytes().splitlines()[:300]
    (folder / "t.label").write_bytes(b"\n".join(lines) + b"\n")
    with gzip.open(SHARED / "ag_news" / "test.csv.gz", "rt", encoding="utf-8") as handle:
        (folder / "ag.csv").write_text("".join(handle.readline() for _ in range(200)))
    from search._study import load_task

    trec = load_task(load_config(preset="trec", data="t.label"))
    assert set(trec.label_names) <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    ag = load_task(load_config(preset="ag_news", data="ag.csv"))
    assert ag.label_names == ["Business", "Sci/Tech", "Sports", "World"]


@pytest.mark.parametrize(
    "name",
    ["imdb", "imdb_vectors", "ag_news", "trec", "ner_uk", "conll2003", "ud_pos", "tabular"],
)
def test_every_preset_is_a_valid_config_whose_baseline_fits_its_space(name):
    assert name in preset_names()
    vectors = "glove.txt" if name == "imdb_vectors" else None  # its trials all use the file's
    config = load_config(preset=name, data="somewhere", vectors=vectors)
    params = config.baseline_params()
    assert config.study == name and params
    # The hand-tuned trial is one configuration: nothing active in it is left to the sampler.
    chosen: dict = {}
    for parameter in config.search_space().parameters:
        if parameter.active(chosen):
            value = parameter.value if parameter.kind == "fixed" else params.get(parameter.name)
            assert value is not None, f"{name} baseline leaves {parameter.name} to the sampler"
            chosen[parameter.name] = value


def test_a_baseline_takes_the_objective_defaults_for_what_it_leaves_out():
    config = load_config(preset="imdb", data="somewhere")
    params = config.baseline_params()
    assert params["hidden_size"] == 128 and params["lr"] == 1e-4  # named in [baseline]
    assert params["max_length"] == 400  # the task's cap, as an unsearched run uses
    assert params["dropout"] == 0.0 and params["grad_clip"] == 0.0  # objective defaults


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (
            ["--task", "ner", "--data", "bad.iob"],
            {"bad.iob": "John B-PER\nlives O\nin O extra\n"},
            "bad.iob:3: expected 2 whitespace-separated columns 'token TAG', got 3",
        ),
        (
            ["--task", "pos", "--data", "bad.conllu"],
            {"bad.conllu": "# c\n1\tI\tI\tPRON\tPRP\t_\t0\troot\n"},
            "bad.conllu:2: expected 10 tab-separated CoNLL-U columns, got 8",
        ),
        (
            ["--task", "tabular", "--data", "one.csv"],
            {"one.csv": "x,label\n1,a\n2,a\n3,a\n"},
            "label column 'label' has one class ('a')",
        ),
        (
            ["--task", "ner", "--data", "reviews.csv"],
            {"reviews.csv": "text,label\ngood film,pos\nbad film,neg\n"},
            "is a classification table; use --task classification",
        ),
        (
            ["--config", "c.toml"],
            {"c.toml": "[space]\nchar_embedding_dim = 32\n"},
            "space parameter 'char_embedding_dim' is not a hyperparameter of this task",
        ),
        (["--preset", "ner_uk"], {}, "preset 'ner_uk' needs --data PATH"),
        (["--preset", "imbd"], {}, "preset 'imbd' is not known; accepted: ag_news, conll2003"),
    ],
)
def test_each_task_error_is_one_line_and_exit_2(folder, capsys, args, files, message):
    for name, text in files.items():
        (folder / name).write_text(text)
    code, out, err = hpsearch(capsys, "run", "--no-progress", "--n-trials", "1", *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_create_queues_the_baseline_once_for_workers_to_run(folder, capsys):
    from search._presets import preset_path

    (folder / "study.toml").write_text(preset_path("tabular").read_text() + "\n\n# edited copy\n")
    for _ in range(2):  # idempotent: the same baseline is not queued twice
        code, out, err = hpsearch(capsys, "create", "--config", "study.toml", "--enqueue-baseline")
        assert code == 0, err
    study = optuna.load_study(study_name="tabular", storage="sqlite:///hpsearch.db")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.WAITING]
    assert study.trials[0].user_attrs["baseline"] is True
    assert study.trials[0].system_attrs["fixed_params"]["hidden_size_1"] == 64


@pytest.mark.parametrize("command", ["create", "launch"])
def test_enqueue_baseline_without_one_is_refused_before_a_study_exists(folder, capsys, command):
    (folder / "plain.toml").write_text("n_trials = 1\n")
    code, _, err = hpsearch(capsys, command, "--config", "plain.toml", "--enqueue-baseline")
    assert code == 2
    assert "--enqueue-baseline needs a [baseline] table in the config" in err
    assert optuna.get_all_study_names("sqlite:///hpsearch.db") == []
