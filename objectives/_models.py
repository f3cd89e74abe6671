"""One recurrent encoder for every cell type, and the text classifier built on it.

The tagger built on the same encoder is in :mod:`objectives._tagger_model`, the tabular
MLP in :mod:`objectives._mlp`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from objectives.data._text import UNK_ID
from objectives.errors import ObjectiveError

Cell = Literal["rnn", "gru", "lstm"]
Aggregation = Literal["last", "max", "mean"]
NgramOrder = Literal[0, 1, 2]

BIGRAM_BUCKETS = 2**16
"""Hash buckets of a classifier's bigram weights (collisions cost little at this size)."""

_TORCH_CELLS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


def check_choice(name: str, value: object, accepted: tuple[object, ...]) -> None:
    if value not in accepted:
        raise ObjectiveError(
            f"{name} {value!r} is not accepted; accepted: {', '.join(map(str, accepted))}"
        )


def check_at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ObjectiveError(f"{name} must be at least {minimum}, but got {name}={value}.")


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of a :class:`RecurrentEncoder`.

    Attributes:
        cell: Recurrent cell: ``rnn`` (tanh), ``gru`` or ``lstm``.
        hidden_size: Units per direction and layer.
        num_layers: Stacked recurrent layers.
        bidirectional: Also read each sequence backwards.
        dropout: Dropout on embeddings, between layers and before the head.
        embedding_dim: Width of the token embedding or of the feature projection.
        vocabulary_size: Embedding rows for token inputs; 0 for float features.
        n_features: Width of float-feature inputs; 0 for token inputs.
        extra_features: Width of per-step features concatenated to the embedding (a
            tagger's character-level word vectors); 0 for none.
        freeze_embeddings: Keep the token embedding as initialised (pretrained vectors):
            it gets no gradient and no optimizer state.
        word_dropout: Chance that a token of a training batch is read as ``<unk>`` (each
            token, each batch; padding never), so the model learns to tag and classify
            from context and characters the words it has not seen; 0 turns it off, and
            evaluation never drops.
    """

    cell: Cell = "gru"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    embedding_dim: int = 64
    vocabulary_size: int = 0
    n_features: int = 0
    extra_features: int = 0
    freeze_embeddings: bool = False
    word_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, get_args(Cell))
        check_at_least("hidden_size", self.hidden_size, 1)
        check_at_least("num_layers", self.num_layers, 1)
        check_at_least("embedding_dim", self.embedding_dim, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ObjectiveError(f"dropout must be in [0, 1), but got dropout={self.dropout}.")
        if (self.vocabulary_size > 0) == (self.n_features > 0):
            raise ObjectiveError(
                "an encoder reads either token ids (vocabulary_size > 0) or float features "
                f"(n_features > 0), but got {self.vocabulary_size=} and {self.n_features=}."
            )
        if self.freeze_embeddings and self.vocabulary_size == 0:
            raise ObjectiveError("freeze_embeddings needs token inputs (vocabulary_size > 0)")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ObjectiveError(
                f"word_dropout must be in [0, 1), but got word_dropout={self.word_dropout}."
            )
        if self.word_dropout > 0 and self.vocabulary_size == 0:
            raise ObjectiveError(
                "word_dropout needs token inputs (text data), but this data has float "
                "features; leave word_dropout out of the space"
            )

    @property
    def output_size(self) -> int:
        """Width of each time step's output (both directions concatenated)."""
        return self.hidden_size * (2 if self.bidirectional else 1)


def _drop_words(inputs: torch.Tensor, p: float) -> torch.Tensor:
    """``inputs`` (token ids ``[B, T]``) with each real token read as ``<unk>`` with chance
    ``p`` (padding, id 0, and ``<unk>`` itself stay); fixed shapes, no host read."""
    dropped = (torch.rand(inputs.shape, device=inputs.device) < p) & (inputs > UNK_ID)
    return torch.where(dropped, torch.full_like(inputs, UNK_ID), inputs)


class RecurrentEncoder(nn.Module):
    """Embeds inputs and runs them through an RNN, GRU or LSTM; padding is packed away.

    With ``pack_sequences`` off (see :func:`objectives._graphs.padded_steps`), a
    unidirectional encoder runs over the padded batch instead and reads each sequence's
    final state at its own length: the same result, with shapes that do not depend on the
    lengths (a CUDA graph needs that).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.pack_sequences = True
        self.embed: nn.Module
        if config.vocabulary_size > 0:
            self.embed = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
            self.embed.weight.requires_grad_(not config.freeze_embeddings)
        else:
            self.embed = nn.Linear(config.n_features, config.embedding_dim)
        self.input_dropout = nn.Dropout(config.dropout)
        # One module for every cell type, so the training loop never asks which it has.
        self.rnn: nn.RNNBase = getattr(nn, _TORCH_CELLS[config.cell])(
            config.embedding_dim + config.extra_features,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
        )

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch.

        Args:
            inputs: ``[B, T]`` token ids or ``[B, T, F]`` features.
            lengths: ``[B]`` true lengths, on the CPU.
            extra: ``[B, T, extra_features]`` per-step features, when the config has them.

        Returns:
            ``outputs [B, T, D]`` per time step (zeros at padding) and ``final [B, D]``, the
            last layer's final state of each direction, where ``D`` is ``output_size``.
        """
        if self.training and self.config.word_dropout > 0:
            inputs = _drop_words(inputs, self.config.word_dropout)
        embedded = self.embed(inputs)  # [B, T, E]
        if extra is not None:
            embedded = torch.cat([embedded, extra], dim=-1)  # [B, T, E + X]
        embedded = self.input_dropout(embedded)
        if not self.pack_sequences:
            return self._padded_forward(embedded, lengths)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        packed_out, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(
            packed_out, batch_first=True, total_length=inputs.shape[1]
        )  # [B, T, D]
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        directions = 2 if self.config.bidirectional else 1
        final = hidden[-directions:].transpose(0, 1).reshape(inputs.shape[0], -1)  # [B, D]
        return outputs, final

    def _padded_forward(
        self, embedded: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # A forward-only pass never reads past a sequence's end before reaching it, so the
        # output at length - 1 is the packed final state; a backward pass would start in
        # the padding, hence unidirectional only.
        if self.config.bidirectional:
            raise ValueError("padded steps need a unidirectional encoder")
        outputs, _ = self.rnn(embedded)  # [B, T, D]
        lengths = lengths.to(outputs.device)
        steps = torch.arange(outputs.shape[1], device=outputs.device)
        present = (steps[None, :] < lengths[:, None]).unsqueeze(-1)  # [B, T, 1]
        outputs = outputs * present  # zeros at padding, as pad_packed_sequence gives
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        final = outputs[rows, (lengths - 1).clamp(min=0)]  # [B, D]
        return outputs, final


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a :class:`SequenceClassifier` (saved with its checkpoint).

    Attributes:
        encoder: The recurrent encoder.
        n_classes: Classes of the head.
        aggregation: How the time steps become one vector: the final state, or the mean or
            max over the steps.
        ngrams: A linear bag-of-n-grams term added to the class logits ("wide and deep"):
            0 none, 1 one weight per word and class, 2 also one per hashed word bigram
            (:data:`BIGRAM_BUCKETS`). What a TF-IDF + logistic regression learns comes
            from this term, and the recurrent part learns what n-grams miss; token inputs only.
    """

    encoder: EncoderConfig
    n_classes: int
    aggregation: Aggregation = "last"
    ngrams: NgramOrder = 0

    def __post_init__(self) -> None:
        check_choice("aggregation", self.aggregation, get_args(Aggregation))
        check_at_least("n_classes", self.n_classes, 2)
        check_choice("ngrams", self.ngrams, get_args(NgramOrder))
        if self.ngrams and self.encoder.vocabulary_size == 0:
            raise ObjectiveError(
                "ngrams needs token inputs (text data), but this data has float features; "
                "leave ngrams out of the space"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        """Inverse of :meth:`to_dict`."""
        encoder = EncoderConfig(**values["encoder"])
        # Checkpoints from before a field existed leave it out: it takes its default.
        rest = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        return cls(**{**rest, "encoder": encoder})


class SequenceClassifier(nn.Module):
    """A recurrent encoder, an aggregation over time steps, and a linear classifier
    (plus, with ``ngrams``, a linear term over the text's words and bigrams)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = RecurrentEncoder(config.encoder)
        self.dropout = nn.Dropout(config.encoder.dropout)
        self.head = nn.Linear(config.encoder.output_size, config.n_classes)
        self.ngram_weights: nn.EmbeddingBag | None = None
        if config.ngrams:
            rows = config.encoder.vocabulary_size + (BIGRAM_BUCKETS if config.ngrams == 2 else 0)
            self.ngram_weights = nn.EmbeddingBag(rows, config.n_classes, mode="sum", padding_idx=0)
            # From zero, as a logistic regression starts: random weights per n-gram would
            # be noise summed over every word of the text.
            nn.init.zeros_(self.ngram_weights.weight)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, C]`` for a padded batch (see :meth:`RecurrentEncoder.forward`)."""
        outputs, final = self.encoder(inputs, lengths)
        if self.config.aggregation == "last":
            pooled = final
        else:
            steps = torch.arange(outputs.shape[1], device=outputs.device)
            mask = (steps[None, :] < lengths.to(outputs.device)[:, None]).unsqueeze(-1)  # [B,T,1]
            if self.config.aggregation == "mean":
                pooled = (outputs * mask).sum(1) / mask.sum(1).clamp(min=1)
            else:
                pooled = outputs.masked_fill(~mask, float("-inf")).amax(1)
        logits = self.head(self.dropout(pooled))  # [B, C]
        if self.ngram_weights is not None:
            logits = logits + self.ngram_weights(self._ngram_ids(inputs))
        return logits

    def _ngram_ids(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` token ids to ``[B, T or 2T - 1]`` n-gram rows (0, padding, is skipped).

        Words are their own rows; a bigram hashes to one of :data:`BIGRAM_BUCKETS` rows after
        the vocabulary's. Fixed shapes and no host reads, so CUDA graphs can capture it.
        """
        if self.config.ngrams == 1:
            return inputs
        first, second = inputs[:, :-1], inputs[:, 1:]  # [B, T - 1] each (empty when T is 1)
        hashed = (first * 1_000_003 + second) % BIGRAM_BUCKETS + self.config.encoder.vocabulary_size
        bigrams = torch.where(second > 0, hashed, torch.zeros_like(hashed))  # none into padding
        return torch.cat([inputs, bigrams], dim=1)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
