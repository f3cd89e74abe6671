"""`hpsearch predict`: the best model of any task labels the inputs of a file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from cli_helpers import hpsearch
from sklearn.datasets import load_digits, load_iris

from objectives._models import BIGRAM_BUCKETS

TINY = ["--n-trials", "1", "--epochs", "1", "--no-progress", "--seed", "0"]


def test_the_default_digits_model_predicts_from_rows_of_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/p.db"
    assert hpsearch(capsys, "run", "--study", "d", "--storage", url, *TINY)[0] == 0
    images = load_digits().images[:5] / 16.0  # the scale the model was trained on
    lines = [" ".join(f"{v:.4f}" for v in image.ravel()) for image in images]
    (tmp_path / "digits.txt").write_text("\n".join(lines) + "\n")
    code, out, err = hpsearch(
        capsys, "predict", "--study", "d", "--storage", url, "--input", "digits.txt"
    )
    assert code == 0, err
    assert len(out.splitlines()) == 5 and set(out.splitlines()) <= set("0123456789")
    # The file as an argument, as `hpsearch predict FILE` reads: the same answers.
    assert hpsearch(capsys, "predict", "--study", "d", "--storage", url, "digits.txt")[1] == out
    code, _, err = hpsearch(
        capsys, "predict", "--study", "d", "--storage", url, "digits.txt", "--input", "x.txt"
    )
    assert code == 2 and err.splitlines()[0] == (
        "error: predict reads one file, but got FILE 'digits.txt' and --input 'x.txt'; "
        "give one of them"
    )

    (tmp_path / "bad.txt").write_text("1 2 3\n")
    code, _, err = hpsearch(
        capsys, "predict", "--study", "d", "--storage", url, "--input", "bad.txt"
    )
    assert code == 2 and "line 1 has 3 numbers; the model reads rows of 8" in err


def test_the_tabular_model_predicts_a_label_per_csv_row(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns={"target": "species"})
    frame["species"] = np.asarray(iris.target_names)[frame["species"]]
    frame.to_csv(tmp_path / "iris.csv", index=False)
    url = f"sqlite:///{tmp_path}/p.db"
    args = ["--task", "tabular", "--data", "iris.csv", "--label-column", "species", *TINY]
    assert hpsearch(capsys, "run", "--study", "t", "--storage", url, *args)[0] == 0
    frame.drop(columns="species").head(7).to_csv(tmp_path / "rows.csv", index=False)
    code, out, err = hpsearch(
        capsys, "predict", "--study", "t", "--storage", url, "--input", "rows.csv"
    )
    assert code == 0, err
    assert len(out.splitlines()) == 7 and set(out.splitlines()) <= set(iris.target_names)

    pd.DataFrame({"petal length (cm)": [1.0]}).to_csv(tmp_path / "short.csv", index=False)
    code, _, err = hpsearch(
        capsys, "predict", "--study", "t", "--storage", url, "--input", "short.csv"
    )
    assert code == 2 and "the model reads columns 'sepal length (cm)'" in err


def test_a_missing_input_file_is_exit_2(tmp_path, capsys):
    code, _, err = hpsearch(capsys, "predict", "--input", str(tmp_path / "none.txt"))
    assert code == 2 and "does not exist" in err


TAGGER = """
n_trials = 1
epochs = 2
[pruner]
name = "nop"
[space]
hidden_size = 16
embedding_dim = 16
num_layers = 1
char_embedding_dim = 0
"""


def test_a_tagger_answers_a_tag_per_token(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    names, places = ["Anna", "Marko", "Olena", "Ivan"], ["Kyiv", "Lviv", "Paris", "Rome"]
    blocks = [
        f"{names[i % 4]} B-PER\nlives O\nin O\n{places[i % 3]} B-LOC\n. O\n" for i in range(40)
    ]
    (tmp_path / "train.iob").write_text("\n".join(blocks))
    (tmp_path / "tagger.toml").write_text(TAGGER)
    url = f"sqlite:///{tmp_path}/p.db"
    args = ["--config", "tagger.toml", "--task", "ner", "--data", "train.iob", "--no-progress"]
    assert hpsearch(capsys, "run", "--study", "n", "--storage", url, *args)[0] == 0
    (tmp_path / "sentences.txt").write_text("Olena lives in Rome .\n\nIvan lives in Lviv\n")
    code, out, err = hpsearch(
        capsys, "predict", "--study", "n", "--storage", url, "--input", "sentences.txt"
    )
    assert code == 0, err
    lines = out.split("\n")[:3]
    assert [len(line.split()) for line in lines] == [5, 0, 4]  # a tag per token; blank stays
    tags = {"B-PER", "I-PER", "B-LOC", "I-LOC", "O"}
    assert set(" ".join(lines).split()) <= tags


def test_a_text_model_with_the_ngram_term_saves_and_predicts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    words = {"pos": "a great fun film", "neg": "an awful dull film"}
    rows = [{"text": f"{words[label]} {i}", "label": label} for i in range(30) for label in words]
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    url = f"sqlite:///{tmp_path}/p.db"
    n_parameters = {}
    for order in (0, 2):
        (tmp_path / f"ngrams{order}.toml").write_text(
            f'study = "text{order}"\n[task]\nname = "classification"\ndata = "reviews.csv"\n'
            f"[space]\nngrams = {order}\n"
        )
        code, _, err = hpsearch(
            capsys, "run", "--config", f"ngrams{order}.toml", "--storage", url, *TINY
        )
        assert code == 0, err
        code, out, err = hpsearch(
            capsys, "best", "--study", f"text{order}", "--storage", url, "--json"
        )
        assert code == 0, err
        n_parameters[order] = json.loads(out)["user_attrs"]["n_parameters"]
    # Same seed, same sampled shape: the bigram model has one weight per class for every
    # word and every bigram bucket more.
    assert n_parameters[2] - n_parameters[0] > 2 * BIGRAM_BUCKETS
    (tmp_path / "new.txt").write_text("a great fun film\nan awful film never seen\n")
    code, out, err = hpsearch(
        capsys, "predict", "--study", "text2", "--storage", url, "--input", "new.txt"
    )
    assert code == 0, err
    assert len(out.splitlines()) == 2 and set(out.splitlines()) <= {"pos", "neg"}
