"""Tests for objectives._tagging_metrics with hand-computed expectations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from objectives._tagging_metrics import (
    entity_scores,
    ids_to_tags,
    iob1_to_iob2,
    padding_mask,
)
from objectives.data._readers import read_conll2003_file
from objectives.errors import ObjectiveError

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.mark.parametrize(
    ("iob1", "iob2"),
    [
        # conlleval: B- only separates two same-type entities; I- after O starts one.
        ("I-PER I-PER B-PER", "B-PER I-PER B-PER"),
        ("O I-LOC I-ORG", "O B-LOC B-ORG"),
        ("I-LOC I-LOC O I-LOC", "B-LOC I-LOC O B-LOC"),
        ("B-MISC I-MISC I-ORG", "B-MISC I-MISC B-ORG"),
        ("O O", "O O"),
    ],
)
def test_iob1_to_iob2_follows_conlleval(iob1: str, iob2: str) -> None:
    assert iob1_to_iob2(iob1.split()) == iob2.split()


def test_iob1_to_iob2_rejects_non_iob_tags() -> None:
    with pytest.raises(ObjectiveError, match="'NNP' at token 1"):
        iob1_to_iob2(["O", "NNP"])


def test_iob1_scores_count_entities_like_conlleval() -> None:
    gold = [["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG", "O"]]
    predicted = [["I-PER", "I-PER", "O", "I-ORG"], ["I-ORG", "I-ORG", "O"]]
    # gold: PER(0-1) LOC(3) | ORG(0) ORG(1); predicted: PER(0-1) ORG(3) | ORG(0-1).
    # Only PER matches: precision 1/3, recall 1/4, F1 2/7.

    scores = entity_scores(gold, predicted, scheme="IOB1")

    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 4)
    assert scores.f1 == pytest.approx(2 / 7)
    assert scores.per_type_f1 == {"LOC": 0.0, "ORG": 0.0, "PER": 1.0}
    assert scores.per_type_support == {"LOC": 1, "ORG": 2, "PER": 1}


def test_iob2_strict_does_not_count_an_entity_starting_with_i() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "O"]]

    scores = entity_scores(gold, predicted, scheme="IOB2")

    assert (scores.precision, scores.recall) == (1.0, pytest.approx(2 / 3))
    assert scores.f1 == pytest.approx(0.8)
    assert scores.per_type_f1 == {"LOC": 0.0, "ORG": 1.0, "PER": 1.0}


def test_entity_scores_are_zero_without_entities() -> None:
    scores = entity_scores([["O", "O"]], [["O", "O"]], scheme="IOB2")

    assert (scores.precision, scores.recall, scores.f1) == (0.0, 0.0, 0.0)
    assert scores.per_type_f1 == {}


def test_entity_scores_reject_misaligned_input() -> None:
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]], scheme="IOB2")


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"real corpora not found at {DATASETS}")
def test_conll2003_testa_entity_counts_match_the_published_ones() -> None:
    corpus = read_conll2003_file(DATASETS / "conll2003_en" / "eng.testa.gz")

    scores = entity_scores(corpus.tags, corpus.tags, scheme="IOB1")

    # The CoNLL-2003 development set has 5,942 entities in these proportions.
    assert scores.per_type_support == {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}
    assert scores.f1 == 1.0


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    logits = torch.tensor(
        [
            [[5.0, 1, 0, 0], [1, 5, 4, 0], [0, 1, 2, 3]],
            [[0.0, 0, 9, 0], [3, 2, 1, 0], [9, 0, 0, 0]],
        ]
    )  # [batch=2, time=3, n_tags=4]
    # Per token: right; top-3 only; wrong; right; wrong; padding (would be right).
    gold = torch.tensor([[0, 2, 0], [2, 3, 0]])
    mask = padding_mask(torch.tensor([3, 2]))
    return logits, gold, mask


def test_padding_mask() -> None:
    assert padding_mask(torch.tensor([2, 0, 1]), max_length=3).tolist() == [
        [True, True, False],
        [False, False, False],
        [True, False, False],
    ]


def test_ids_to_tags_drops_padding() -> None:
    ids = torch.tensor([[1, 2, 0], [2, 1, 1]])

    tags = ids_to_tags(ids, torch.tensor([3, 1]), ["O", "B-PER", "I-PER"])

    assert tags == [["B-PER", "I-PER", "O"], ["I-PER"]]


def test_ids_to_tags_rejects_unknown_ids() -> None:
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        ids_to_tags(torch.tensor([[0, 5]]), torch.tensor([2]), ["O", "B-X"])
