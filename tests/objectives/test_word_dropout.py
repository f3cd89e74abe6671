"""Word dropout: training batches read some tokens as <unk>; evaluation reads them all."""

from __future__ import annotations

import pytest
import torch

from objectives import EncoderConfig, ObjectiveError
from objectives._models import RecurrentEncoder

UNK, PAD = 1, 0


def _encoder(word_dropout: float) -> RecurrentEncoder:
    torch.manual_seed(0)
    return RecurrentEncoder(
        EncoderConfig(
            cell="gru",
            hidden_size=4,
            embedding_dim=3,
            vocabulary_size=50,
            word_dropout=word_dropout,
        )
    )


def _embedded_ids(encoder: RecurrentEncoder, inputs: torch.Tensor) -> torch.Tensor:
    """The token id each embedded row came from (the encoder's embedding rows are distinct)."""
    seen: list[torch.Tensor] = []
    handle = encoder.embed.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    encoder(inputs, torch.tensor([inputs.shape[1]] * inputs.shape[0]))
    handle.remove()
    return seen[0]


def test_training_batches_read_about_p_of_the_tokens_as_unknown_and_never_padding():
    inputs = torch.randint(2, 50, (64, 40))
    inputs[:, 30:] = PAD
    encoder = _encoder(0.25).train()
    read = _embedded_ids(encoder, inputs)
    real = inputs[:, :30]
    dropped = (read[:, :30] == UNK) & (real != UNK)
    assert 0.2 < dropped.float().mean().item() < 0.3
    assert torch.equal(read[:, 30:], inputs[:, 30:])  # padding stays padding
    kept = read[:, :30] != UNK
    assert torch.equal(read[:, :30][kept], real[kept])  # the rest is read as given
    again = _embedded_ids(encoder, inputs)
    assert not torch.equal(again, read)  # drawn anew for every batch


def test_evaluation_and_a_zero_rate_read_every_token():
    inputs = torch.randint(2, 50, (8, 10))
    assert torch.equal(_embedded_ids(_encoder(0.5).eval(), inputs), inputs)
    assert torch.equal(_embedded_ids(_encoder(0.0).train(), inputs), inputs)


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_a_rate_outside_0_1_is_refused(value):
    with pytest.raises(
        ObjectiveError, match=rf"word_dropout must be in \[0, 1\), but got word_dropout={value}"
    ):
        EncoderConfig(vocabulary_size=10, word_dropout=value)


def test_float_features_have_no_words_to_drop():
    with pytest.raises(ObjectiveError, match="word_dropout needs token inputs"):
        EncoderConfig(n_features=8, word_dropout=0.1)
