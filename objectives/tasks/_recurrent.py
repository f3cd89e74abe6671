"""What the tasks on the recurrent encoder share: its parameters, views and input encoding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from objectives._models import EncoderConfig
from objectives._training import model_scores
from objectives.data import ClassificationData, SequenceSplit, WordVectors, load_vectors
from objectives.errors import ObjectiveError
from objectives.tasks._base import Task, TaskConfig, field_defaults
from objectives.tasks._derive import DerivedSpace, derivable, length_choices, min_freq_spec
from objectives.tasks._pretrained import (
    VECTOR_PARAMETERS,
    check_vector_space,
    check_vectors_named,
)

ENCODER_PARAMETERS: dict[str, Any] = field_defaults(
    EncoderConfig,
    (
        "cell",
        "hidden_size",
        "num_layers",
        "bidirectional",
        "dropout",
        "embedding_dim",
        "word_dropout",
    ),
)
"""Hyperparameters of :class:`~objectives.EncoderConfig`, with its defaults."""

TEXT_PARAMETERS: dict[str, Any] = {"min_freq": 1, "max_length": None, **VECTOR_PARAMETERS}
"""Vocabulary cut-off, length cap (``None``: the task's ``max_length``) and pretrained
vectors (``[task] vectors``: used or not, frozen or not)."""


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file without their line ends (empty lines kept)."""
    return path.read_text(encoding="utf-8").splitlines()


class RecurrentTask(Task):
    """A task on the recurrent encoder: vocabulary and length views of preloaded tensors."""

    data: ClassificationData
    reads_vectors = True
    vectors_path: str | None = None
    """Pretrained word vectors (``[task] vectors``), read when a trial first needs them."""

    def __init__(self, data: ClassificationData) -> None:
        self.data = data
        self.train, self.validation, self.test = data.train, data.validation, data.test
        self.label_names = list(data.label_names)

    def use_vectors(self, path: str | None) -> RecurrentTask:
        """Take pretrained vectors from ``path`` (``None``: none); returns the task.

        The file is read on first use and once per process (scoring a saved model never
        reads it: the trained embedding is in the checkpoint).

        Raises:
            ObjectiveError: Vectors for data that has no words (float features).
        """
        if path is not None and not self.data.is_text:
            raise ObjectiveError(
                f"task.vectors {path!r} needs text data, but {self.data.source!r} has float "
                "features; leave vectors out"
            )
        self.vectors_path = path
        return self

    def word_vectors(self) -> WordVectors | None:
        """The vocabulary's pretrained vectors, or ``None`` without a file."""
        if self.vectors_path is None or self.data.vocabulary is None:
            return None
        return load_vectors(self.vectors_path, self.data.vocabulary)

    @classmethod
    def check_space(cls, config: TaskConfig, space: Mapping[str, Any]) -> None:
        """Refuse a space that asks for pretrained vectors when ``config`` names no file."""
        check_vectors_named(space, config.vectors)

    @classmethod
    def default_value(cls, name: str, config: TaskConfig) -> Any:
        if name == "max_length":
            return config.max_length  # sequences are cut at the task's cap
        return super().default_value(name, config)

    def derive_space(
        self,
        space: Mapping[str, Any],
        *,
        given: Iterable[str],
        epochs: int,
        keep: Mapping[str, Sequence[Any]],
    ) -> DerivedSpace:
        """The learning rate as every task's, and for texts the length and vocabulary too.

        ``max_length`` choices become the training lengths' percentiles (rounded up, never
        past the longest text), and ``min_freq`` keeps the cut-offs under which most
        training tokens stay in the vocabulary (:mod:`objectives.tasks._derive`).
        """
        given = set(given)
        check_vector_space(space, self.word_vectors())
        derived = super().derive_space(space, given=given, epochs=epochs, keep=keep)
        if not self.data.is_text:
            return derived
        if derivable(space, given, "max_length", "categorical", "int"):
            kept = [length for length in keep.get("max_length", ()) if length]
            choices, statistics = length_choices(self.train.lengths.numpy(), kept)
            one = len(choices) == 1
            spec: Any = choices[0] if one else {"type": "categorical", "choices": choices}
            derived.add("max_length", spec, statistics)
        if derivable(space, given, "min_freq", "int", "categorical") and self.data.token_counts:
            kept = list(keep.get("min_freq", ()))
            spec, statistics = min_freq_spec(space["min_freq"], self.data.token_counts, kept)
            derived.add("min_freq", spec, statistics)
        return derived

    def _pretrained(self, p: Mapping[str, Any]) -> WordVectors | None:
        if not p.get("pretrained"):
            return None
        vectors = self.word_vectors()
        if vectors is None:
            raise ObjectiveError(
                "pretrained = true needs a vectors file: set [task] vectors = PATH "
                "(or --vectors PATH)"
            )
        return vectors

    def encoder_config(self, p: Mapping[str, Any], extra_features: int = 0) -> EncoderConfig:
        """The encoder of parameters ``p`` sized for this task's data (a pretrained
        trial's embedding has the vectors' width)."""
        vectors = self._pretrained(p)
        return EncoderConfig(
            cell=p["cell"],
            hidden_size=int(p["hidden_size"]),
            num_layers=int(p["num_layers"]),
            bidirectional=bool(p["bidirectional"]),
            dropout=float(p["dropout"]),
            embedding_dim=vectors.dim if vectors is not None else int(p["embedding_dim"]),
            vocabulary_size=self.data.vocabulary_size(int(p["min_freq"]))
            if self.data.is_text
            else 0,
            n_features=self.data.n_features or 0,
            extra_features=extra_features,
            freeze_embeddings=vectors is not None and bool(p["freeze_embeddings"]),
            word_dropout=float(p["word_dropout"]),
        )

    def init_embeddings(self, model: nn.Module, p: Mapping[str, Any]) -> nn.Module:
        """``model`` with its token embedding set from the pretrained vectors when ``p``
        asks for them (words the file lacks drawn at the vectors' scale, padding zero)."""
        vectors = self._pretrained(p)
        if vectors is not None:
            embed: nn.Embedding = model.encoder.embed  # type: ignore[union-attr,assignment]
            with torch.no_grad():
                embed.weight.copy_(vectors.embedding(embed.num_embeddings))
        return model

    def trial_attrs(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """A pretrained trial's vector coverage: of its vocabulary and of training tokens."""
        vectors = self._pretrained(p)
        if vectors is None:
            return {}
        size = self.data.vocabulary_size(int(p["min_freq"]))
        return {
            "vectors_coverage": vectors.coverage(size, self.data.token_counts),
            "vectors_dim": vectors.dim,
        }

    def view_settings(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """The view's settings, saved with a checkpoint to read new inputs the same way."""
        return {
            "min_freq": int(p["min_freq"]),
            "max_length": int(p["max_length"] or self.data.max_length),
        }

    def view(self, split: SequenceSplit, p: Mapping[str, Any]) -> SequenceSplit:
        return self.data.view(split, **self.view_settings(p))

    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        info = {**self.data.preprocessing(), **self.view_settings(p)}
        if info["vocabulary"] is not None:
            # Only the ids this model has embeddings for; rarer tokens read as unknown.
            size = model.config.encoder.vocabulary_size  # type: ignore[union-attr]
            info["vocabulary"] = info["vocabulary"][:size]
        return info


@torch.no_grad()
def best_ids(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """The model's highest-scoring class (or tag) ids for one batch of inputs.

    The inputs are the model's (a tagger's: ids, lengths, characters); a CRF tagger's tags
    are its Viterbi path.
    """
    model.eval()
    lengths = inputs[1] if len(inputs) > 1 else None
    return model_scores(model, model(*inputs), lengths).argmax(-1)
