"""A study with pretrained vectors from the user's file: CLI, trial attributes, bad input."""

from __future__ import annotations

import random

import numpy as np
import optuna
import pytest

from tests.search.cli_helpers import hpsearch

WORDS = ["good", "bad", "film", "plot", "actor", "great", "awful", "scene", "dull", "fun"]


@pytest.fixture
def files(tmp_path):
    """A CSV of toy reviews, 5-d vectors for its words (fastText header), and a config."""
    rng = random.Random(0)
    lines = ["text,label"]
    for _ in range(100):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10)))
        lines.append(f"{text},{'pos' if 'good' in text else 'neg'}")
    (tmp_path / "reviews.csv").write_text("\n".join(lines) + "\n")
    values = np.random.default_rng(0).normal(0, 0.4, (len(WORDS), 5)).round(4)
    vectors = [f"{len(WORDS) - 1} 5"]
    vectors += [f"{w} {' '.join(map(str, v))}" for w, v in zip(WORDS[:-1], values, strict=False)]
    (tmp_path / "vectors.vec").write_text("\n".join(vectors) + "\n")
    (tmp_path / "tiny.toml").write_text(
        # ngrams fixed: the seeded draws of these 4 trials try pretrained both ways.
        "epochs = 1\nn_trials = 4\n[space]\nhidden_size = 8\nbatch_size = 64\nnum_layers = 1\n"
        "ngrams = 0\n"
    )
    return tmp_path


def run_args(folder, *extra):
    return [
        "run",
        "--config", str(folder / "tiny.toml"),
        "--data", str(folder / "reviews.csv"),
        "--study", "vec",
        "--storage", f"sqlite:///{folder}/studies.db",
        "--no-progress",
        *extra,
    ]  # fmt: skip


def test_trials_search_pretrained_vectors_and_record_their_coverage(files, capsys):
    code, out, err = hpsearch(capsys, *run_args(files, "--vectors", str(files / "vectors.vec")))
    assert code == 0, err
    study = optuna.load_study(study_name="vec", storage=f"sqlite:///{files}/studies.db")
    assert study.user_attrs["hpsearch_config"]["task"]["vectors"] == str(files / "vectors.vec")
    trials = study.get_trials()
    assert {t.params["pretrained"] for t in trials} == {False, True}  # searched, both tried
    for trial in trials:
        if trial.params["pretrained"]:
            assert "embedding_dim" not in trial.params  # the file's 5 dimensions
            assert trial.user_attrs["vectors_dim"] == 5
            assert trial.user_attrs["vectors_coverage"]["vocabulary"] == pytest.approx(0.9)
            assert "freeze_embeddings" in trial.params
        else:
            assert "vectors_coverage" not in trial.user_attrs


@pytest.mark.parametrize(
    ("extra", "space", "message"),
    [
        (["--vectors", "{folder}/missing.vec"], "", "missing.vec' does not exist"),
        (["--vectors", "{folder}/reviews.csv"], "", "reviews.csv:1: not a word-vectors file"),
        (
            ["--vectors", "{folder}/vectors.vec"],
            "pretrained = true\nembedding_dim = 16\n",
            "space.embedding_dim = 16, but every trial uses the vectors of",
        ),
        (
            [],
            "pretrained = true\n",
            "every trial uses pretrained word vectors (space.pretrained = true), but no vectors",
        ),
        (
            [],
            'pretrained = {type = "categorical", choices = [false, true]}\n',
            "space.pretrained can be true, but the task names no vectors",
        ),
        (
            ["--task", "tabular", "--vectors", "v.vec"],
            "",
            "task.vectors is not read by task 'tabular'",
        ),
    ],
)
def test_bad_vectors_are_one_line_and_exit_2(files, capsys, extra, space, message):
    if space:
        with (files / "tiny.toml").open("a") as handle:
            handle.write(space)
    args = [arg.replace("{folder}", str(files)) for arg in extra]
    code, out, err = hpsearch(capsys, *run_args(files, *args))
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (files / "studies.db").exists()  # refused before any database file exists
