"""Class probabilities for ensembles: per example, in order; none from taggers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from objectives import ObjectiveError
from objectives._ensemble import class_probabilities
from objectives.data import SplitSettings
from objectives.data._encoding import build_text_data
from objectives.data._readers import TaggedCorpus
from objectives.data._tagged import build_tagging_data
from objectives.tasks import ClassificationTask, NerTask


def test_probabilities_come_back_in_the_split_order_whatever_the_batches():
    # iterate() sorts by length; the averaged probabilities must be per example, in order.
    texts = ["a b c d e f", "a", "b c", "a b c", "c"] * 4
    data = build_text_data(texts, ["x", "y", "x", "y", "x"] * 4, max_length=8)
    task = ClassificationTask(data)
    model = task.build_model(task.resolve({"hidden_size": 4, "embedding_dim": 4}))
    split = task.train
    got = class_probabilities(model, split, batch_size=3)
    with torch.no_grad():
        model.eval()
        each = [torch.softmax(model(split.inputs[i : i + 1, : split.lengths[i]], split.lengths[i : i + 1]), -1)[0] for i in range(len(split))]  # fmt: skip
    torch.testing.assert_close(got, torch.stack(each), rtol=1e-5, atol=1e-6)
    assert np.allclose(got.sum(-1).numpy(), 1.0)


@pytest.mark.parametrize("crf", [False, True])
def test_a_tagger_gives_no_probabilities_to_average(crf, tmp_path):
    sentences = [["John", "lives", "in", "Kyiv"], ["Anna", "went", "home"]] * 5
    tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "O"]] * 5
    data = build_tagging_data(
        TaggedCorpus(sentences, tags, "toy"), None, kind="ner", split=SplitSettings(seed=0)
    )
    task = NerTask(data)
    model = task.build_model(task.resolve({"hidden_size": 4, "embedding_dim": 4, "crf": crf}))
    with pytest.raises(
        ObjectiveError, match=r"gives outputs of shape \[.*\] \(a label per token\)"
    ):
        class_probabilities(model, task.train)
    (tmp_path / "s.txt").write_text("John lives in Kyiv\n")
    with pytest.raises(ObjectiveError, match="task 'ner' gives no class probabilities per input"):
        NerTask.predict_probabilities(model, {}, Path(tmp_path / "s.txt"))
