"""The imdb_vectors preset: the old grid's frozen-vectors baseline first, and --vectors required."""

from __future__ import annotations

import gzip
import random

import numpy as np
import optuna
import pytest
import torch
from cli_helpers import hpsearch

import storage
from objectives import model_from_checkpoint
from search import load_config
from search._checkpoints import CheckpointStore

HEADER = "label,rating,id,keras_book_split,text"  # the offline IMDB copy's columns
POSITIVE = ["great", "fun", "moving", "superb", "loved"]
NEGATIVE = ["awful", "dull", "boring", "bad", "hated"]
NEUTRAL = ["film", "plot", "actor", "scene", "the", "a", "was"]
UNKNOWN = ["plot", "hated"]  # words the vectors file lacks
DIM = 12


def write_reviews(path, n_reviews: int, seed: int) -> None:
    """Short reviews in the IMDB release's layout: pos/neg labels, ``<br />`` tags."""
    rng = random.Random(seed)
    rows = [HEADER]
    for i in range(n_reviews):
        positive = i % 2 == 0
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(4, 8))]
        words += rng.sample(POSITIVE if positive else NEGATIVE, 2)
        rng.shuffle(words)
        text = f"{' '.join(words[:3])}.<br /><br />{' '.join(words[3:])}."
        label, rating = ("pos", rng.randint(7, 10)) if positive else ("neg", rng.randint(1, 4))
        rows.append(f'{label},{rating},{i},train,"{text}"')
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """train.csv.gz / test.csv.gz in IMDB's layout, and GloVe-style vectors for their words."""
    monkeypatch.chdir(tmp_path)
    write_reviews(tmp_path / "train.csv.gz", 48, seed=0)
    write_reviews(tmp_path / "test.csv.gz", 16, seed=1)
    known = [w for w in [*POSITIVE, *NEGATIVE, *NEUTRAL, "."] if w not in UNKNOWN]
    values = np.random.default_rng(0).normal(0, 0.5, (len(known), DIM)).round(5)
    rows = zip(known, values, strict=True)
    lines = [f"{w} {' '.join(f'{v:.5f}' for v in row)}" for w, row in rows]
    (tmp_path / "glove.12d.txt").write_text("\n".join(lines) + "\n")  # GloVe: no header
    return tmp_path


def run_preset(capsys, *extra: str) -> tuple[int, str, str]:
    return hpsearch(
        capsys,
        "run",
        "--preset", "imdb_vectors",
        "--data", "train.csv.gz",
        "--test-data", "test.csv.gz",
        "--enqueue-baseline",
        "--n-trials", "2",
        "--epochs", "1",
        "--no-progress",
        *extra,
    )  # fmt: skip


def file_vectors(path) -> dict[str, torch.Tensor]:
    rows = (line.split(" ") for line in path.read_text().splitlines())
    return {row[0]: torch.tensor([float(v) for v in row[1:]]) for row in rows}


def test_the_baseline_is_the_old_grid_s_gru_on_frozen_file_vectors(folder, capsys):
    code, out, err = run_preset(capsys, "--vectors", "glove.12d.txt")
    assert code == 0, err
    url = "sqlite:///hpsearch.db"
    study = optuna.load_study(study_name="imdb_vectors", storage=url)
    space = study.user_attrs["hpsearch_config"]["space"]
    assert space["pretrained"] is True and space["freeze_embeddings"] is True  # every trial
    assert "embedding_dim" not in space  # the file's width
    assert space["cell"] == {"type": "categorical", "choices": ["gru", "lstm"]}
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    baseline = trials[0]
    assert baseline.user_attrs["baseline"] is True
    expected = {"cell": "gru", "hidden_size": 128, "num_layers": 1, "bidirectional": False}
    expected |= {"batch_size": 128, "lr": 1e-4, "optimizer": "adam", "scheduler": "none"}
    assert {name: baseline.params[name] for name in expected} == expected
    # 16 of the 18 vocabulary words ('plot' and 'hated' are not in the file).
    assert baseline.user_attrs["vectors_dim"] == DIM
    assert baseline.user_attrs["vectors_coverage"]["vocabulary"] == pytest.approx(16 / 18, abs=1e-4)
    assert 0 < baseline.user_attrs["vectors_coverage"]["tokens"] < 1
    assert trials[1].user_attrs["vectors_dim"] == DIM  # the searched trial uses them too

    # The saved model kept the file's vectors as they were: frozen through training.
    checkpoints = CheckpointStore(storage.artifact_dir_for(url) / "imdb_vectors")
    model, info = model_from_checkpoint(checkpoints.load(baseline))
    assert info["params"]["pretrained"] is True and info["params"]["freeze_embeddings"] is True
    (embedding,) = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    assert embedding.embedding_dim == DIM
    vocabulary = list(info["vocabulary"])
    for word, vector in file_vectors(folder / "glove.12d.txt").items():
        assert torch.allclose(embedding.weight[vocabulary.index(word)], vector), word


def test_without_vectors_the_preset_is_refused_before_any_data_is_read(folder, capsys):
    (folder / "train.csv.gz").write_bytes(b"not gzip")  # reading it would fail differently
    code, out, err = run_preset(capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "every trial uses pretrained word vectors" in line and "--vectors PATH" in line
    assert not (folder / "hpsearch.db").exists()


def test_the_preset_fits_lr_and_min_freq_to_the_data_and_keeps_the_baseline_in_its_space():
    config = load_config(None, preset="imdb_vectors", data="train.csv", vectors="glove.txt")
    assert {"lr", "min_freq"}.isdisjoint(config.space)  # left to the data-fitted defaults
    params = config.baseline_params()
    assert params["max_length"] == 400 and params["min_freq"] == 1  # the task's defaults
    assert params["dropout"] == 0.0 and params["aggregation"] == "last"
