"""Pretrained word vectors: file formats, lookup, coverage, frozen training, checkpoints."""

from __future__ import annotations

import gzip
import random
import re

import numpy as np
import optuna
import pytest
import torch

from objectives import ObjectiveError, ObjectiveSettings, TaskConfig, TaskObjective
from objectives.data import SplitSettings, read_vectors
from objectives.data._encoding import build_text_data
from objectives.data._vectors import load_vectors
from objectives.tasks import ClassificationTask
from objectives.tasks._pretrained import check_vector_space

VOCABULARY = ["<pad>", "<unk>", "the", "kyiv", "Paris", "new york", "zzz"]
WORDS = ["good", "bad", "film", "plot", "actor", "great", "awful", "scene", "dull", "fun"]


def write(path, lines, *, gz=False):
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_glove_lines_are_read_for_the_vocabulary_only(tmp_path):
    path = write(
        tmp_path / "glove.txt",
        ["the 1 2 3", "Kyiv 4 5 6", "kyiv 7 8 9", "paris 1 1 1", "PARIS 0 0 0", "new york 2 2 2"],
    )
    vectors = read_vectors(path, VOCABULARY)
    assert vectors.dim == 3 and vectors.vectors.shape == (7, 3)
    assert vectors.vectors[2].tolist() == [1, 2, 3]
    assert vectors.vectors[3].tolist() == [7, 8, 9]  # the exact match beats "Kyiv"
    assert vectors.vectors[4].tolist() == [1, 1, 1]  # "Paris": the first casing listed
    assert vectors.vectors[5].tolist() == [2, 2, 2]  # a word with a space (GloVe 840B)
    assert vectors.found.tolist() == [False, False, True, True, True, True, False]


@pytest.mark.parametrize("gz", [False, True])
def test_word2vec_and_fasttext_headers_and_gzip(tmp_path, gz):
    name = "vectors.vec.gz" if gz else "vectors.vec"
    path = write(tmp_path / name, ["3 2", "the 0.5 -0.5", "zzz 1e-1 2", "kyiv 3 4"], gz=gz)
    vectors = read_vectors(path, VOCABULARY)
    assert vectors.dim == 2
    assert vectors.vectors[6].tolist() == pytest.approx([0.1, 2.0])
    assert vectors.coverage(len(VOCABULARY), None) == {"vocabulary": 0.6}  # 3 of 5 words


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["the 1 2 3", "kyiv 1 2"], "glove.txt:2: not a word-vectors file (2 values where 3"),
        (["the 1 x 3"], "glove.txt:1: not a word-vectors file (a value that is not a number)"),
        (["the"], "glove.txt:1: not a word-vectors file (a word without a vector)"),
        ([""], "has no vectors"),
    ],
)
def test_a_bad_file_is_one_line_naming_where(tmp_path, lines, message):
    path = write(tmp_path / "glove.txt", lines)
    with pytest.raises(ObjectiveError, match=re.escape(message)) as caught:
        read_vectors(path, VOCABULARY)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ObjectiveError, match="vectors file .*missing.txt' does not exist"):
        load_vectors(tmp_path / "missing.txt", VOCABULARY)


def test_the_file_is_read_once_per_vocabulary(tmp_path):
    path = write(tmp_path / "glove.txt", ["the 1 2", "kyiv 3 4"])
    first = load_vectors(path, VOCABULARY)
    assert load_vectors(str(path), list(VOCABULARY)) is first
    assert load_vectors(path, VOCABULARY[:4]) is not first


def test_unseen_words_look_like_the_vectors_and_padding_is_zero(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary = ["<pad>", "<unk>", *[f"w{i}" for i in range(400)]]
    lines = [f"w{i} " + " ".join(f"{v:.4f}" for v in rng.normal(0, 0.3, 16)) for i in range(200)]
    vectors = read_vectors(write(tmp_path / "glove.txt", lines), vocabulary)
    torch.manual_seed(0)
    rows = vectors.embedding(len(vocabulary))
    assert torch.equal(rows[0], torch.zeros(16))
    torch.testing.assert_close(rows[2:202], vectors.vectors[2:202])
    assert float(rows[202:].std()) == pytest.approx(vectors.std, rel=0.1)
    assert vectors.std == pytest.approx(0.3, rel=0.1)


def reviews(n: int = 120) -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]
    return texts, ["pos" if "good" in t or "great" in t else "neg" for t in texts]


@pytest.fixture
def task_with_vectors(tmp_path):
    """Classification of toy reviews, with 6-d vectors for all training words but two."""
    data = build_text_data(*reviews(), split=SplitSettings(seed=0), max_length=16)
    rng = np.random.default_rng(1)
    words = [w for w in data.vocabulary[2:] if w not in ("dull", "fun")]
    lines = [f"{w.upper()} " + " ".join(map(str, rng.normal(0, 0.5, 6).round(4))) for w in words]
    path = write(tmp_path / "vectors.txt", ["999 6", *lines])
    return ClassificationTask(data).use_vectors(str(path)), path


PARAMS = {"embedding_dim": 32, "hidden_size": 8, "batch_size": 32, "lr": 1e-2}


def test_a_pretrained_model_starts_from_the_vectors_at_their_width(task_with_vectors):
    task, path = task_with_vectors
    p = task.resolve({**PARAMS, "pretrained": True, "freeze_embeddings": True})
    model = task.build_model(p)
    embed = model.encoder.embed
    vectors = load_vectors(path, task.data.vocabulary)
    assert embed.embedding_dim == 6 and model.config.encoder.embedding_dim == 6
    found = vectors.found
    assert int(found.sum()) == 8  # every training word but "dull" and "fun", found in upper case
    torch.testing.assert_close(embed.weight[found], vectors.vectors[found])  # upper-case file
    assert torch.equal(embed.weight[0], torch.zeros(6))
    assert not embed.weight.requires_grad
    attrs = task.trial_attrs(p)
    assert attrs["vectors_dim"] == 6
    assert attrs["vectors_coverage"]["vocabulary"] == pytest.approx(8 / 10)
    counts = dict(zip(task.data.vocabulary, task.data.token_counts, strict=True))
    missing = (counts["dull"] + counts["fun"]) / sum(counts.values())
    assert attrs["vectors_coverage"]["tokens"] == round(1 - missing, 4)
    cut = task.resolve({**PARAMS, "pretrained": True, "min_freq": 10**6})  # every word unknown
    assert task.trial_attrs(cut)["vectors_coverage"]["tokens"] == 0.0

    scratch = task.build_model(task.resolve(PARAMS))
    assert scratch.encoder.embed.embedding_dim == 32 and scratch.encoder.embed.weight.requires_grad
    assert task.trial_attrs(task.resolve(PARAMS)) == {}


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_vectors_stay_and_checkpoints_rebuild_without_the_file(task_with_vectors, freeze):
    task, path = task_with_vectors
    saved = {}
    params = {**PARAMS, "pretrained": True, "freeze_embeddings": freeze}
    objective = TaskObjective(
        task,
        lambda trial: params,
        ObjectiveSettings(max_epochs=2, device="cpu"),
        save_checkpoint=lambda trial, checkpoint: saved.update(checkpoint),
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.user_attrs["vectors_coverage"]["vocabulary"] == pytest.approx(0.8)
    start = load_vectors(path, task.data.vocabulary)
    trained = saved["state_dict"]["encoder.embed.weight"]
    moved = not torch.allclose(trained[start.found], start.vectors[start.found])
    assert moved is not freeze

    path.unlink()  # a saved model never needs the vectors again
    model, info = ClassificationTask.model_from_checkpoint(saved)
    torch.testing.assert_close(model.encoder.embed.weight, trained)
    assert model.config.encoder.freeze_embeddings is freeze


def test_pretrained_without_a_file_or_at_another_fixed_width_is_refused(task_with_vectors):
    task, path = task_with_vectors
    vectors = task.word_vectors()
    with pytest.raises(ObjectiveError, match="every trial uses the vectors .* 6 dimensions"):
        check_vector_space({"pretrained": True, "embedding_dim": 32}, vectors)
    check_vector_space({"pretrained": True, "embedding_dim": 6}, vectors)
    # Trials without vectors may still use another width.
    space = {"pretrained": {"type": "categorical", "choices": [False, True]}, "embedding_dim": 32}
    check_vector_space(space, vectors)
    with pytest.raises(ObjectiveError, match="names no vectors file"):
        check_vector_space(space, None)
    bare = ClassificationTask(task.data)
    with pytest.raises(ObjectiveError, match="pretrained = true needs a vectors file"):
        bare.build_model(bare.resolve({**PARAMS, "pretrained": True}))


def test_the_default_space_searches_vectors_only_with_a_file():
    plain = ClassificationTask.default_space(TaskConfig(data="reviews.csv"), 5)
    assert "pretrained" not in plain
    space = ClassificationTask.default_space(TaskConfig(data="r.csv", vectors="v.txt"), 5)
    assert list(space)[:2] == ["pretrained", "freeze_embeddings"]
    assert space["freeze_embeddings"]["when"] == {"pretrained": [True]}
    assert space["embedding_dim"]["when"] == {"pretrained": [False]}


def test_feature_data_takes_no_vectors(tmp_path):
    from objectives.data import load_classification_data

    with pytest.raises(ObjectiveError, match="needs text data"):
        ClassificationTask(load_classification_data("digits")).use_vectors("v.txt")


def test_a_tagger_starts_from_the_vectors_too(tmp_path):
    from objectives.data._readers import TaggedCorpus
    from objectives.data._tagged import build_tagging_data
    from objectives.tasks import NerTask

    sentences = [["John", "lives", "in", "Kyiv"], ["Mary", "visited", "Paris"]] * 10
    tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]] * 10
    corpus = TaggedCorpus([list(s) for s in sentences], [list(t) for t in tags], "toy")
    task = NerTask(build_tagging_data(corpus, None, kind="ner", split=SplitSettings()))
    path = write(tmp_path / "glove.txt", ["Kyiv 1 2 3 4", "PARIS 5 6 7 8", "john 0 1 0 1"])
    task.use_vectors(str(path))
    space = NerTask.default_space(TaskConfig(name="ner", vectors=str(path)), 5)
    assert space["embedding_dim"]["when"] == {"pretrained": [False]}
    p = task.resolve({"pretrained": True, "hidden_size": 8})
    embed = task.build_model(p).encoder.embed
    kyiv = task.data.vocabulary.index("kyiv")  # the tagger's words are lower-cased, the file's not
    assert embed.embedding_dim == 4 and embed.weight[kyiv].tolist() == [1, 2, 3, 4]
    assert task.trial_attrs(p)["vectors_coverage"]["vocabulary"] == round(3 / 7, 4)
