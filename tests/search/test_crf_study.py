"""A CRF tagger through a whole NER study: search, checkpoint, reload, predict."""

from __future__ import annotations

import json

import torch
from cli_helpers import hpsearch

import search
from objectives import encode_sentences
from objectives._training import model_scores

SENTENCES = [
    ("John lives in Kyiv .", "B-PER O O B-LOC O"),
    ("Mary Smith visited Paris", "B-PER I-PER O B-LOC"),
    ("The city of Lviv is old", "O O O B-LOC O O"),
    ("Anna went home", "B-PER O O"),
    ("Paris and Kyiv are far", "B-LOC O B-LOC O O"),
]

CRF_TAGGER = """
n_trials = 1
epochs = 8
[pruner]
name = "nop"
[space]
crf = true
hidden_size = 16
embedding_dim = 16
bidirectional = true
batch_size = 8
lr = 0.02
"""


def _write(path, repeat: int) -> None:
    blocks = []
    for words, tags in SENTENCES * repeat:
        blocks.append(
            "\n".join(f"{w} {t}" for w, t in zip(words.split(), tags.split(), strict=True))
        )
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def test_a_crf_ner_trial_trains_reloads_and_predicts_viterbi_tags(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "train.txt", 10)
    _write(tmp_path / "test.txt", 2)
    (tmp_path / "crf.toml").write_text(CRF_TAGGER)
    args = ["--config", "crf.toml", "--task", "ner", "--data", "train.txt", "--seed", "0"]
    code, out, err = hpsearch(capsys, "run", *args, "--test-data", "test.txt", "--no-progress")
    assert code == 0, err
    code, out, err = hpsearch(capsys, "best", "--evaluate-test", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["value"] > 0.8 and record["test"]["f1"] > 0.8

    model, info = search.load_best_model("demo", "sqlite:///hpsearch.db")
    # The checkpoint rebuilt the CRF layer (a fixed space value is no trial param).
    assert model.config.crf and model.crf is not None and info["params"]["crf"] is True
    ids, lengths, chars = encode_sentences([["Mary", "lives", "in", "Paris"], ["Anna"]], info)
    emissions = model(ids, lengths, chars)
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    viterbi = model.crf.viterbi(emissions, mask)
    assert torch.equal(model_scores(model, emissions, lengths).argmax(-1)[mask], viterbi[mask])

    (tmp_path / "new.txt").write_text("Mary lives in Paris\n\nAnna\n", encoding="utf-8")
    code, out, err = hpsearch(capsys, "predict", "--input", "new.txt")
    assert code == 0, err
    names = info["label_names"]
    expected = [" ".join(names[i] for i in viterbi[0, :4].tolist()), "", names[viterbi[1, 0]]]
    assert out.splitlines() == expected
    assert out.splitlines()[0] == "B-PER O O B-LOC"


def test_word_dropout_is_a_searchable_parameter_of_a_tagger_study(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "train.txt", 10)
    config = CRF_TAGGER.replace("n_trials = 1", "n_trials = 2").replace("epochs = 8", "epochs = 1")
    (tmp_path / "wd.toml").write_text(
        config + 'word_dropout = {type = "float", low = 0.05, high = 0.3}\n'
    )
    args = ["--config", "wd.toml", "--task", "ner", "--data", "train.txt", "--no-progress"]
    code, _, err = hpsearch(capsys, "run", *args)
    assert code == 0, err
    trials = search.open_study("demo", "sqlite:///hpsearch.db").trials
    assert len(trials) == 2
    assert all(0.05 <= t.params["word_dropout"] <= 0.3 for t in trials)
    model, _ = search.load_best_model("demo", "sqlite:///hpsearch.db")
    best = max(trials, key=lambda t: t.value)
    assert model.config.encoder.word_dropout == best.params["word_dropout"]  # kept in the model
