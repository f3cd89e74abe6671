"""The tagger: characters to word vectors, the recurrent encoder, a tag per token (+ CRF)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from objectives._crf import LinearChainCRF
from objectives._models import EncoderConfig, RecurrentEncoder, check_at_least, check_choice
from objectives._training import batch_loss
from objectives.data._text import IGNORE_INDEX
from objectives.errors import ObjectiveError

CharEncoderKind = Literal["cnn", "rnn"]


@dataclass(frozen=True)
class CharEncoderConfig:
    """Shape of a :class:`CharEncoder`: characters of a word to one vector.

    Attributes:
        n_characters: Character embedding rows (0 is padding, 1 unknown).
        embedding_dim: Width of a character embedding.
        hidden_size: Width of the word vector (CNN filters, or RNN units per direction x 2).
        kind: ``cnn`` (convolution + max over characters) or ``rnn`` (a bidirectional GRU
            whose final states are concatenated).
    """

    n_characters: int
    embedding_dim: int = 16
    hidden_size: int = 32
    kind: CharEncoderKind = "cnn"

    def __post_init__(self) -> None:
        check_choice("char_encoder", self.kind, get_args(CharEncoderKind))
        check_at_least("char_embedding_dim", self.embedding_dim, 1)
        check_at_least("char_hidden_size", self.hidden_size, 2)
        check_at_least("n_characters", self.n_characters, 2)

    @property
    def output_size(self) -> int:
        """Width of each word vector (a GRU's two directions get half the size each)."""
        return self.hidden_size if self.kind == "cnn" else 2 * (self.hidden_size // 2)


class CharEncoder(nn.Module):
    """One vector per word from its characters, so unseen words still get a representation."""

    def __init__(self, config: CharEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.n_characters, config.embedding_dim, padding_idx=0)
        self.conv: nn.Conv1d | None = None
        self.rnn: nn.GRU | None = None
        if config.kind == "cnn":
            self.conv = nn.Conv1d(config.embedding_dim, config.hidden_size, 3, padding=1)
        else:
            self.rnn = nn.GRU(
                config.embedding_dim, config.hidden_size // 2, batch_first=True, bidirectional=True
            )

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` character ids (0 is padding) to ``[B, T, H]`` word vectors."""
        batch, steps, width = chars.shape
        flat = chars.reshape(batch * steps, width).long()  # [W, C]
        embedded = self.embed(flat)  # [W, C, E]
        present = flat != 0  # [W, C]
        if self.conv is not None:
            features = self.conv(embedded.transpose(1, 2)).transpose(1, 2)  # [W, C, H]
            features = features.masked_fill(~present.unsqueeze(-1), float("-inf")).amax(1)
            # Padding words have no characters: -inf everywhere, read as zeros.
            vectors = torch.where(torch.isfinite(features), features, torch.zeros_like(features))
        else:
            assert self.rnn is not None
            # Padding words get length 1 (a pad character) so packing accepts them.
            lengths = present.sum(1).clamp(min=1).cpu()
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            _, hidden = self.rnn(packed)  # [2, W, H/2]
            vectors = hidden.transpose(0, 1).reshape(batch * steps, -1)  # [W, H]
        return vectors.reshape(batch, steps, -1)  # [B, T, H]


@dataclass(frozen=True)
class TaggerConfig:
    """Shape of a :class:`SequenceTagger` (saved with its checkpoint).

    ``encoder.extra_features`` must equal the character encoder's output width (0 without);
    ``crf`` adds a linear-chain CRF output layer (trained on the sentence likelihood,
    decoded with Viterbi).
    """

    encoder: EncoderConfig
    n_tags: int
    chars: CharEncoderConfig | None = None
    crf: bool = False

    def __post_init__(self) -> None:
        check_at_least("n_tags", self.n_tags, 2)
        if self.encoder.vocabulary_size == 0:
            raise ObjectiveError("a tagger reads token ids; the encoder needs vocabulary_size > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TaggerConfig:
        """Inverse of :meth:`to_dict`."""
        chars = values.get("chars")
        return cls(
            encoder=EncoderConfig(**values["encoder"]),
            n_tags=int(values["n_tags"]),
            chars=CharEncoderConfig(**chars) if chars else None,
            crf=bool(values.get("crf", False)),  # checkpoints from before the CRF have none
        )


class SequenceTagger(nn.Module):
    """The recurrent encoder (optionally fed character-level word vectors) and one tag per step."""

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        self.chars = CharEncoder(config.chars) if config.chars is not None else None
        self.encoder = RecurrentEncoder(config.encoder)
        self.dropout = nn.Dropout(config.encoder.dropout)
        self.head = nn.Linear(config.encoder.output_size, config.n_tags)
        self.crf = LinearChainCRF(config.n_tags) if config.crf else None

    def forward(
        self, inputs: torch.Tensor, lengths: torch.Tensor, chars: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Tag logits ``[B, T, K]`` for ``[B, T]`` token ids (and ``[B, T, C]`` characters).

        With a CRF these are its emissions; :meth:`output_loss` and :meth:`output_scores`
        turn them into the loss and the decoded scores.
        """
        extra = None
        if self.chars is not None:
            if chars is None:
                raise ObjectiveError("this tagger reads characters; pass the chars tensor too")
            extra = self.chars(chars)  # [B, T, H]
        outputs, _ = self.encoder(inputs, lengths, extra)  # [B, T, D]
        return self.head(self.dropout(outputs))  # [B, T, K]

    def output_loss(
        self, logits: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss and tokens counted (see :func:`objectives._training.batch_loss`).

        With a CRF the loss is each sentence's negative log-likelihood, so the mean over
        tokens stays on the scale of the per-token cross-entropy it replaces.
        """
        if self.crf is None:
            return batch_loss(logits, labels)
        mask = labels != IGNORE_INDEX  # [B, T]
        return -self.crf.log_likelihood(logits, labels, mask).sum(), mask.sum()

    def output_scores(self, logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, T, K]`` scores whose argmax over tags is the prediction.

        The logits themselves, or with a CRF its max-marginals: their argmax is the Viterbi
        path and their ranking the CRF's top-k, so every tag metric reads them unchanged.
        """
        if self.crf is None:
            return logits
        steps = torch.arange(logits.shape[1], device=logits.device)
        mask = steps[None, :] < lengths.to(logits.device)[:, None]  # [B, T]
        return self.crf.max_marginals(logits, mask)
