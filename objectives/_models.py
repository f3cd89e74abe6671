"""One recurrent encoder for every cell type, and the heads built on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from objectives.errors import ObjectiveError

Cell = Literal["rnn", "gru", "lstm"]
Aggregation = Literal["last", "max", "mean"]

_TORCH_CELLS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}


def _check_choice(name: str, value: object, accepted: tuple[object, ...]) -> None:
    if value not in accepted:
        raise ObjectiveError(
            f"{name} {value!r} is not accepted; accepted: {', '.join(map(str, accepted))}"
        )


def _check_at_least(name: str, value: float, minimum: float) -> None:
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
    """

    cell: Cell = "gru"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    embedding_dim: int = 64
    vocabulary_size: int = 0
    n_features: int = 0

    def __post_init__(self) -> None:
        _check_choice("cell", self.cell, get_args(Cell))
        _check_at_least("hidden_size", self.hidden_size, 1)
        _check_at_least("num_layers", self.num_layers, 1)
        _check_at_least("embedding_dim", self.embedding_dim, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ObjectiveError(f"dropout must be in [0, 1), but got dropout={self.dropout}.")
        if (self.vocabulary_size > 0) == (self.n_features > 0):
            raise ObjectiveError(
                "an encoder reads either token ids (vocabulary_size > 0) or float features "
                f"(n_features > 0), but got {self.vocabulary_size=} and {self.n_features=}."
            )

    @property
    def output_size(self) -> int:
        """Width of each time step's output (both directions concatenated)."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class RecurrentEncoder(nn.Module):
    """Embeds inputs and runs them through an RNN, GRU or LSTM; padding is packed away."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embed: nn.Module
        if config.vocabulary_size > 0:
            self.embed = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        else:
            self.embed = nn.Linear(config.n_features, config.embedding_dim)
        self.input_dropout = nn.Dropout(config.dropout)
        # One module for every cell type, so the training loop never asks which it has.
        self.rnn: nn.RNNBase = getattr(nn, _TORCH_CELLS[config.cell])(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
        )

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a padded batch.

        Args:
            inputs: ``[B, T]`` token ids or ``[B, T, F]`` features.
            lengths: ``[B]`` true lengths, on the CPU.

        Returns:
            ``outputs [B, T, D]`` per time step (zeros at padding) and ``final [B, D]``, the
            last layer's final state of each direction, where ``D`` is ``output_size``.
        """
        embedded = self.input_dropout(self.embed(inputs))  # [B, T, E]
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        packed_out, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(
            packed_out, batch_first=True, total_length=inputs.shape[1]
        )  # [B, T, D]
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c)
        directions = 2 if self.config.bidirectional else 1
        final = hidden[-directions:].transpose(0, 1).reshape(inputs.shape[0], -1)  # [B, D]
        return outputs, final


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a :class:`SequenceClassifier` (saved with its checkpoint)."""

    encoder: EncoderConfig
    n_classes: int
    aggregation: Aggregation = "last"

    def __post_init__(self) -> None:
        _check_choice("aggregation", self.aggregation, get_args(Aggregation))
        _check_at_least("n_classes", self.n_classes, 2)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        """Inverse of :meth:`to_dict`."""
        encoder = EncoderConfig(**values["encoder"])
        rest = {f.name: values[f.name] for f in fields(cls) if f.name != "encoder"}
        return cls(encoder=encoder, **rest)


class SequenceClassifier(nn.Module):
    """A recurrent encoder, an aggregation over time steps, and a linear classifier."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = RecurrentEncoder(config.encoder)
        self.dropout = nn.Dropout(config.encoder.dropout)
        self.head = nn.Linear(config.encoder.output_size, config.n_classes)

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
        return self.head(self.dropout(pooled))  # [B, C]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
