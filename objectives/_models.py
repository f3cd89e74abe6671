"""One recurrent encoder for every cell type, and the heads built on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from objectives._crf import LinearChainCRF
from objectives._training import batch_loss
from objectives.data._text import IGNORE_INDEX, UNK_ID
from objectives.errors import ObjectiveError

Cell = Literal["rnn", "gru", "lstm"]
Aggregation = Literal["last", "max", "mean"]
CharEncoderKind = Literal["cnn", "rnn"]
Activation = Literal["relu", "tanh", "gelu"]
NgramOrder = Literal[0, 1, 2]

BIGRAM_BUCKETS = 2**16
"""Hash buckets of a classifier's bigram weights (collisions cost little at this size)."""

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

    With ``pack_sequences`` off (see :func:`padded_steps`), a unidirectional encoder runs
    over the padded batch instead and reads each sequence's final state at its own length:
    the same result, with shapes that do not depend on the lengths (a CUDA graph needs that).
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


def padded_steps_unsupported(model: nn.Module) -> str | None:
    """Why ``model`` cannot run :func:`padded_steps`, or ``None`` when it can."""
    for module in model.modules():
        if isinstance(module, RecurrentEncoder) and module.config.bidirectional:
            return "a bidirectional encoder reads packed sequences, whose shape varies per batch"
        if isinstance(module, CharEncoder) and module.rnn is not None:
            return "the character RNN reads packed sequences, whose shape varies per batch"
    return None


@contextmanager
def padded_steps(model: nn.Module) -> Iterator[None]:
    """Run ``model``'s encoders over padded batches, without packing, inside the block.

    Raises:
        ValueError: ``model`` has a part that needs packing (see
            :func:`padded_steps_unsupported`).
    """
    reason = padded_steps_unsupported(model)
    if reason is not None:
        raise ValueError(reason)
    encoders = [m for m in model.modules() if isinstance(m, RecurrentEncoder)]
    for encoder in encoders:
        encoder.pack_sequences = False
    try:
        yield
    finally:
        for encoder in encoders:
            encoder.pack_sequences = True


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
        _check_choice("aggregation", self.aggregation, get_args(Aggregation))
        _check_at_least("n_classes", self.n_classes, 2)
        _check_choice("ngrams", self.ngrams, get_args(NgramOrder))
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
        _check_choice("char_encoder", self.kind, get_args(CharEncoderKind))
        _check_at_least("char_embedding_dim", self.embedding_dim, 1)
        _check_at_least("char_hidden_size", self.hidden_size, 2)
        _check_at_least("n_characters", self.n_characters, 2)

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
        _check_at_least("n_tags", self.n_tags, 2)
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


@dataclass(frozen=True)
class MLPConfig:
    """Shape of an :class:`MLPClassifier` for tabular rows (saved with its checkpoint)."""

    n_features: int
    n_classes: int
    hidden_sizes: tuple[int, ...] = (64,)
    activation: Activation = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("activation", self.activation, get_args(Activation))
        _check_at_least("n_features", self.n_features, 1)
        _check_at_least("n_classes", self.n_classes, 2)
        for index, size in enumerate(self.hidden_sizes, start=1):
            _check_at_least(f"hidden_size_{index}", size, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ObjectiveError(f"dropout must be in [0, 1), but got dropout={self.dropout}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        values = asdict(self)
        values["hidden_sizes"] = list(self.hidden_sizes)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MLPConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**values, "hidden_sizes": tuple(values["hidden_sizes"])})


_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLPClassifier(nn.Module):
    """Fully connected layers over a standardized feature row."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.n_features
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), _ACTIVATIONS[config.activation]()]
            layers.append(nn.Dropout(config.dropout))
            width = size
        layers.append(nn.Linear(width, config.n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``[B, C]`` for ``[B, F]`` rows (``lengths`` is ignored)."""
        return self.layers(inputs)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
