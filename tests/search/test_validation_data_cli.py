"""``--validation-data`` / ``[task] validation_data`` from the command line: a tiny tagging
study scored on the given file, the file kept in the stored config, and the refusals."""

from __future__ import annotations

import optuna
import pytest
import torch
from cli_helpers import hpsearch

import search
from objectives import encode_sentences
from search._presets import config_layers
from search._resume import CONFIG_ATTR, resolve_config

TINY_POS = """
n_trials = 2
epochs = 2
[pruner]
name = "nop"
[space]
hidden_size = 16
embedding_dim = 16
batch_size = 16
num_layers = 1
char_embedding_dim = 0
min_freq = 1
lr = 0.02
"""
STORAGE = "sqlite:///hpsearch.db"
TRAIN = [
    [("the", "DET"), ("cat", "NOUN"), ("runs", "VERB")],
    [("a", "DET"), ("dog", "NOUN"), ("sleeps", "VERB")],
    [("the", "DET"), ("dog", "NOUN"), ("runs", "VERB"), ("home", "NOUN")],
    [("a", "DET"), ("cat", "NOUN"), ("sleeps", "VERB")],
] * 10
# 7 tokens; ADV (and "quickly") never occur in training: that token can only be missed.
DEV = [
    [("the", "DET"), ("dog", "NOUN"), ("sleeps", "VERB")],
    [("a", "DET"), ("cat", "NOUN"), ("runs", "VERB"), ("quickly", "ADV")],
]


def write_tagged(path, sentences) -> str:
    path.write_text("\n".join("".join(f"{w} {t}\n" for w, t in s) for s in sentences) + "\n")
    return path.name


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tagger.toml").write_text(TINY_POS)
    write_tagged(tmp_path / "train.txt", TRAIN)
    write_tagged(tmp_path / "dev.txt", DEV)
    return tmp_path


def accuracy_of_best_model_on(sentences) -> float:
    model, info = search.load_best_model("demo", STORAGE)
    tokens = [[word for word, _ in sentence] for sentence in sentences]
    with torch.no_grad():
        ids, lengths, chars = encode_sentences(tokens, info)
        predicted = model(ids, lengths, chars).argmax(-1)  # [N, T] (no CRF in this space)
    names = info["label_names"]
    hits = [
        names[int(predicted[row, column])] == tag
        for row, sentence in enumerate(sentences)
        for column, (_, tag) in enumerate(sentence)
    ]
    return sum(hits) / len(hits)


def test_trials_are_scored_on_the_validation_file_and_a_resume_keeps_it(folder, capsys):
    args = ["--config", "tagger.toml", "--task", "pos", "--data", "train.txt"]
    code, out, err = hpsearch(capsys, "run", *args, "--validation-data", "dev.txt", "--no-progress")
    assert code == 0, err
    assert "2 of 2 trials finished" in out
    best = search.best_trial("demo", STORAGE)
    # The best epoch's validation accuracy is the saved model's on dev.txt's 7 tokens.
    assert best.value == pytest.approx(accuracy_of_best_model_on(DEV), abs=1e-9)
    assert best.value * 7 == pytest.approx(round(best.value * 7), abs=1e-9)
    assert best.value <= 6 / 7  # the ADV token is never right
    study = optuna.load_study(study_name="demo", storage=STORAGE)
    assert study.user_attrs[CONFIG_ATTR]["task"]["validation_data"] == "dev.txt"
    # A later run that leaves the flag out goes on with the stored file.
    resumed = resolve_config(config_layers("tagger.toml", task="pos", data="train.txt"))
    assert resumed.task.validation_data == "dev.txt"


@pytest.mark.parametrize("in_config", [False, True])
def test_folds_with_a_validation_file_are_refused_in_one_line(folder, capsys, in_config):
    args = ["--config", "tagger.toml", "--task", "pos", "--data", "train.txt"]
    if in_config:
        (folder / "tagger.toml").write_text(
            "folds = 2\n" + TINY_POS + '[task]\nvalidation_data = "dev.txt"\n'
        )
    else:
        args += ["--folds", "2", "--validation-data", "dev.txt"]
    code, out, err = hpsearch(capsys, "run", *args, "--no-progress")
    assert code == 2
    assert err.strip().splitlines() == [
        "error: folds = 2 and task.validation_data cannot be combined: folds score each "
        "trial on parts of the training data, a validation file scores it on that file; "
        "leave one of them out"
    ]
    assert optuna.get_all_study_names(STORAGE) == []


@pytest.mark.parametrize(("task", "data"), [("pos", "train.txt"), ("classification", "t.csv")])
def test_a_missing_validation_file_is_refused_as_a_missing_test_file_is(folder, capsys, task, data):
    (folder / "t.csv").write_text("text,label\n" + "good film,pos\nbad film,neg\n" * 10)
    errors = {}
    for flag in ("--test-data", "--validation-data"):
        code, _, err = hpsearch(
            capsys,
            "run", "--task", task, "--data", data, flag, "nope.txt", "--n-trials", "1",
            "--epochs", "1", "--no-progress", "--storage", f"sqlite:///{flag[2:]}.db",
        )  # fmt: skip
        assert code == 2 and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and "'nope.txt'" in err, err
        errors[flag] = err
    assert errors["--validation-data"] == errors["--test-data"]


@pytest.mark.parametrize("flag", ["--test-data", "--validation-data"])
def test_a_tabular_study_refuses_a_file_it_would_ignore(tmp_path, capsys, flag):
    extra = tmp_path / "extra.csv"
    extra.write_text("a,b,label\n1,2,x\n3,4,y\n")
    url = f"sqlite:///{tmp_path}/s.db"
    code, _, err = hpsearch(
        capsys, "run", "--task", "tabular", "--data", "iris", flag, str(extra), "--storage", url
    )
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: task 'tabular' does not read {flag} (got {str(extra)!r}): it holds back its "
        "own test and validation rows from --data; leave the option out"
    ]
    assert not (tmp_path / "s.db").exists()
