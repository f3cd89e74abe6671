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


def _ngram_classifier(ngrams: int) -> SequenceClassifier:
    torch.manual_seed(0)
    encoder = EncoderConfig(cell="gru", hidden_size=4, embedding_dim=4, vocabulary_size=20)
    return SequenceClassifier(ClassifierConfig(encoder, n_classes=2, ngrams=ngrams))  # type: ignore[arg-type]


@pytest.mark.parametrize("ngrams", [1, 2])
def test_the_ngram_term_reads_no_padding(ngrams):
    model = _ngram_classifier(ngrams)
    assert model.ngram_weights is not None
    torch.nn.init.normal_(model.ngram_weights.weight)  # trained weights, not the zero start
    model.eval()
    short = model(torch.tensor([[5, 6, 7]]), torch.tensor([3]))
    long = model(torch.tensor([[5, 6, 7, 0, 0, 0]]), torch.tensor([3]))
    torch.testing.assert_close(short, long)
    one_word = model(torch.tensor([[5]]), torch.tensor([1]))  # no bigram at all
    torch.testing.assert_close(one_word, model(torch.tensor([[5, 0]]), torch.tensor([1])))


def test_bigrams_tell_apart_texts_with_the_same_words():
    # "9 4" is one class, "4 9" the other: the same bag of words, so only the order tells.
    texts = torch.tensor([[9, 4], [4, 9]] * 8)
    labels = torch.tensor([0, 1] * 8)
    lengths = torch.full((16,), 2)

    def trained_accuracy(ngrams: int) -> float:
        model = _ngram_classifier(ngrams)
        # Only the n-gram term learns: the recurrent part's logits stay zero.
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.zeros_(model.head.bias)
        assert model.ngram_weights is not None
        optimizer = torch.optim.Adam(model.ngram_weights.parameters(), lr=0.1)
        for _ in range(50):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(texts, lengths), labels).backward()
            optimizer.step()
        return float((model(texts, lengths).argmax(-1) == labels).float().mean())

    assert trained_accuracy(2) == 1.0
    assert trained_accuracy(1) == 0.5  # words alone cannot: equal logits, class 0 for both


def test_the_ngram_term_starts_at_zero_and_old_checkpoints_load_without_it():
    model = _ngram_classifier(2)
    assert model.ngram_weights is not None
    assert model.ngram_weights.weight.abs().sum() == 0  # what a logistic regression starts from
    saved = model.config.to_dict()
    assert ClassifierConfig.from_dict(saved) == model.config
    del saved["ngrams"]  # written before the term existed
    assert ClassifierConfig.from_dict(saved).ngrams == 0


def test_ngrams_need_token_inputs_and_an_order_of_0_1_or_2():
    with pytest.raises(ObjectiveError, match="ngrams needs token inputs"):
        ClassifierConfig(EncoderConfig(n_features=8), n_classes=2, ngrams=2)
    with pytest.raises(ObjectiveError, match="ngrams 3 is not accepted; accepted: 0, 1, 2"):
        ClassifierConfig(EncoderConfig(vocabulary_size=5), n_classes=2, ngrams=3)  # type: ignore[arg-type]
