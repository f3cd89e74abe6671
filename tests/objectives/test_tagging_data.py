"""Tagging data built from the real corpora's first sentences: ids, padding and tags."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from objectives import ObjectiveError, load_tagging_data
from objectives.data._readers import read_tagged_file
from objectives.data._text import IGNORE_INDEX

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real corpora not found at {DATASETS}"
)


def head(source: Path, target: Path, n_sentences: int) -> Path:
    """The first ``n_sentences`` blank-line separated blocks of a (gzip) corpus file."""
    lines, blocks = [], 0
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            if not line.strip() and lines[-2:-1] and lines[-2].strip():
                blocks += 1
                if blocks >= n_sentences:
                    break
    target.write_text("".join(lines), encoding="utf-8")
    return target


@needs_datasets
def test_conll2003_slice_is_iob1_with_padding_ignored(tmp_path):
    path = head(DATASETS / "conll2003_en" / "eng.train.gz", tmp_path / "eng.train", 200)
    data = load_tagging_data(str(path), kind="ner")
    assert data.scheme == "IOB1"
    assert "I-PER" in data.label_names and "O" in data.label_names
    split = data.train
    steps = torch.arange(split.labels.shape[1])
    padding = steps[None, :] >= split.lengths[:, None]
    assert bool((split.labels[padding] == IGNORE_INDEX).all())
    assert bool((split.labels[~padding] >= 0).all())
    assert split.chars is not None and split.chars.shape[:2] == split.inputs.shape
    assert len(data.train) + len(data.validation) + len(data.test) == len(read_tagged_file(path))


@needs_datasets
def test_ner_uk_and_ewt_slices_read_with_their_test_files(tmp_path):
    train = head(DATASETS / "ner_uk" / "ner-uk-v2.0.train.iob.gz", tmp_path / "tr.iob", 150)
    test = head(DATASETS / "ner_uk" / "ner-uk-v2.0.test.iob.gz", tmp_path / "te.iob", 50)
    ner = load_tagging_data(str(train), kind="ner", test_data=str(test))
    assert ner.scheme == "IOB2" and len(ner.test) == 50
    # Tags that only the test slice has still get ids, so they count as missed entities.
    assert set(ner.label_names) >= {"O", "B-LOC"}
    pos_path = head(
        DATASETS / "ud_english_ewt" / "en_ewt-ud-dev.conllu.gz", tmp_path / "d.conllu", 100
    )
    pos = load_tagging_data(str(pos_path), kind="pos")
    assert pos.scheme is None and "NOUN" in pos.label_names


def test_a_classification_table_is_refused_for_tagging(tmp_path):
    (tmp_path / "r.csv").write_text("text,label\nnice film,pos\nbad film,neg\n")
    with pytest.raises(
        ObjectiveError, match="is a classification table; use --task classification"
    ):
        load_tagging_data(str(tmp_path / "r.csv"), kind="ner")


def test_pos_tags_are_refused_as_ner(tmp_path):
    (tmp_path / "p.txt").write_text("I PRON\nrun VERB\n\nYou PRON\nsee VERB\n")
    with pytest.raises(ObjectiveError, match="tag 'PRON' .* is not IOB"):
        load_tagging_data(str(tmp_path / "p.txt"), kind="ner")
