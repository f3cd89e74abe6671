from __future__ import annotations

import pytest
import torch

from objectives import ClassifierConfig, EncoderConfig, ObjectiveError, SequenceClassifier


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("aggregation", ["last", "mean", "max"])
def test_padding_does_not_change_predictions(cell, bidirectional, aggregation):
    torch.manual_seed(0)
    encoder = EncoderConfig(
        cell=cell,
        hidden_size=8,
        num_layers=2,
        bidirectional=bidirectional,
        embedding_dim=6,
        vocabulary_size=20,
    )
    model = SequenceClassifier(ClassifierConfig(encoder, n_classes=3, aggregation=aggregation))
    model.eval()
    tokens = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 0, 0, 0]])
    short = model(tokens, torch.tensor([4]))
    long = model(padded, torch.tensor([4]))
    assert short.shape == (1, 3)
    torch.testing.assert_close(short, long)


def test_float_feature_inputs_are_projected():
    encoder = EncoderConfig(cell="gru", hidden_size=4, embedding_dim=5, n_features=8)
    model = SequenceClassifier(ClassifierConfig(encoder, n_classes=10))
    assert model(torch.rand(3, 8, 8), torch.tensor([8, 8, 8])).shape == (3, 10)


def test_bad_shapes_are_rejected_with_the_value():
    with pytest.raises(
        ObjectiveError, match="cell 'transformer' is not accepted; accepted: rnn, gru, lstm"
    ):
        EncoderConfig(cell="transformer", vocabulary_size=5)  # type: ignore[arg-type]
    with pytest.raises(ObjectiveError, match="hidden_size must be at least 1"):
        EncoderConfig(hidden_size=0, vocabulary_size=5)
    with pytest.raises(ObjectiveError, match="aggregation 'sum'"):
        ClassifierConfig(EncoderConfig(vocabulary_size=5), n_classes=2, aggregation="sum")  # type: ignore[arg-type]
