"""Sequence-classification data, tensorized once per worker process.

Trials never read files: a worker loads a :class:`ClassificationData` once, and each trial
takes a cheap :meth:`ClassificationData.view` for its vocabulary cut-off and maximum length.
Reading the files and the hub is :mod:`objectives.data._text_files`; turning texts into
these tensors, :mod:`objectives.data._encoding`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"

BUILTIN_DATASETS = ("digits",)
"""Datasets shipped inside installed packages, usable offline."""


_TOKEN_PATTERN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
_HTML_TAG = re.compile(r"<[^>]+>")


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens; HTML tags (IMDB's ``<br />``) become spaces."""
    return _TOKEN_PATTERN.findall(_HTML_TAG.sub(" ", text).lower())


IGNORE_INDEX = -100
"""Label of padding steps in tagging splits: the loss and the metrics skip it."""


@dataclass
class Batch:
    """One training or evaluation batch, cut to its longest sequence.

    Attributes:
        inputs: ``[B, T]`` token ids, ``[B, T, F]`` features, or ``[B, F]`` tabular rows.
        lengths: ``[B]`` true lengths (CPU).
        labels: ``[B]`` class ids, or ``[B, T]`` tag ids with :data:`IGNORE_INDEX` at padding.
        chars: ``[B, T, C]`` character ids of each token, for taggers; else ``None``.
        index: ``[B]`` row numbers of the examples in their split (on the labels' device).
    """

    inputs: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    chars: torch.Tensor | None
    index: torch.Tensor

    def model_inputs(self) -> tuple[torch.Tensor, ...]:
        """Positional arguments of every model's ``forward``: so no loop asks which it has."""
        if self.chars is None:
            return (self.inputs, self.lengths)
        return (self.inputs, self.lengths, self.chars)


@dataclass
class SequenceSplit:
    """One split as tensors.

    Attributes:
        inputs: ``[N, T]`` token ids (int64), ``[N, T, F]`` float features, or ``[N, F]``
            tabular rows (then ``padded`` is false).
        lengths: ``[N]`` true length of each sequence (int64, on the CPU: packing needs it).
        labels: ``[N]`` class ids, or ``[N, T]`` tag ids (:data:`IGNORE_INDEX` at padding).
        chars: ``[N, T, C]`` character ids per token (int16 to save memory), or ``None``.
        padded: Whether dim 1 of ``inputs`` is time, cut per batch to the longest sequence.
    """

    inputs: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    chars: torch.Tensor | None = None
    padded: bool = True

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> SequenceSplit:
        """Move inputs and labels to ``device``; lengths stay on the CPU."""
        chars = self.chars.to(device) if self.chars is not None else None
        return SequenceSplit(
            self.inputs.to(device), self.lengths, self.labels.to(device), chars, self.padded
        )

    def batch(self, index: torch.Tensor, width: Callable[[int, int], int] | None = None) -> Batch:
        """The examples at CPU ``index``, cut to their longest sequence.

        Args:
            index: Rows of the examples (CPU int64).
            width: Maps (longest length, split width) to the width to cut to instead: a few
                fixed widths give batches of few shapes, which captured CUDA graphs need
                (the extra steps are padding).
        """
        lengths = self.lengths[index]
        device_index = index.to(self.labels.device)
        if not self.padded:
            return Batch(
                self.inputs[device_index], lengths, self.labels[device_index], None, device_index
            )
        cut = int(lengths.max())  # lengths live on the CPU: no device sync here
        if width is not None:
            cut = width(cut, int(self.inputs.shape[1]))
        labels = self.labels[device_index]
        if labels.dim() == 2:
            labels = labels[:, :cut]
        chars = self.chars[device_index, :cut] if self.chars is not None else None
        return Batch(self.inputs[device_index, :cut], lengths, labels, chars, device_index)

    def subset(self, rows: torch.Tensor) -> SequenceSplit:
        """The examples at ``rows`` (CPU int64), e.g. one cross-validation fold."""
        device_rows = rows.to(self.labels.device)
        chars = self.chars[device_rows] if self.chars is not None else None
        return SequenceSplit(
            self.inputs[device_rows],
            self.lengths[rows],
            self.labels[device_rows],
            chars,
            self.padded,
        )

    def cut(self, max_length: int) -> SequenceSplit:
        """At most ``max_length`` leading steps of every sequence (labels and chars too)."""
        if not self.padded or max_length >= self.inputs.shape[1]:
            return self
        labels = self.labels[:, :max_length] if self.labels.dim() == 2 else self.labels
        chars = self.chars[:, :max_length] if self.chars is not None else None
        return SequenceSplit(
            self.inputs[:, :max_length],
            self.lengths.clamp(max=max_length),
            labels,
            chars,
            self.padded,
        )


def concat_splits(first: SequenceSplit, second: SequenceSplit) -> SequenceSplit:
    """Rows of ``first`` then ``second`` (same width), e.g. train + validation for k folds."""
    chars = None
    if first.chars is not None and second.chars is not None:
        chars = torch.cat([first.chars, second.chars])
    return SequenceSplit(
        torch.cat([first.inputs, second.inputs]),
        torch.cat([first.lengths, second.lengths]),
        torch.cat([first.labels, second.labels]),
        chars,
        first.padded,
    )


@dataclass
class ClassificationData:
    """A sequence-classification dataset: train/validation/test splits plus preprocessing.

    Attributes:
        train: Split used to fit the model.
        validation: Split the trial reports on (split off the training data, or the
            given validation file).
        test: Held-back split, only for ``hpsearch best --evaluate-test``.
        label_names: Class names; class id ``i`` is ``label_names[i]``.
        vocabulary: Tokens ranked by training-split frequency (ids 0 and 1 are pad and
            unknown), or ``None`` when the inputs are float features.
        token_counts: Training-split count of each vocabulary id.
        n_features: Width of float-feature inputs, or ``None`` for token ids.
        source: Where the data came from, for messages and checkpoints.
    """

    train: SequenceSplit
    validation: SequenceSplit
    test: SequenceSplit
    label_names: list[str]
    vocabulary: list[str] | None = None
    token_counts: list[int] | None = None
    n_features: int | None = None
    source: str = ""
    _cutoffs: dict[int, int] = field(default_factory=dict, repr=False)

    @property
    def is_text(self) -> bool:
        """Whether inputs are token ids (with a vocabulary) rather than float features."""
        return self.vocabulary is not None

    @property
    def max_length(self) -> int:
        """Longest sequence kept in the tensors."""
        return int(self.train.inputs.shape[1])

    def vocabulary_size(self, min_freq: int) -> int:
        """Number of ids kept when tokens seen fewer than ``min_freq`` times become unknown.

        Ids are ranked by frequency, so the kept ids are exactly ``0 .. size - 1``.
        """
        if self.token_counts is None:
            return 0
        if min_freq not in self._cutoffs:
            counts = np.asarray(self.token_counts[2:])
            self._cutoffs[min_freq] = 2 + int(np.count_nonzero(counts >= min_freq))
        return self._cutoffs[min_freq]

    def view(self, split: SequenceSplit, *, min_freq: int = 1, max_length: int | None = None):
        """``split`` with rare tokens mapped to unknown and sequences cut to ``max_length``.

        Args:
            split: One of :attr:`train`, :attr:`validation`, :attr:`test`.
            min_freq: Tokens seen fewer times in the training split become ``<unk>``.
            max_length: Keep at most this many leading tokens (``None`` keeps all).

        Returns:
            A new :class:`SequenceSplit`; ``split`` itself is not changed.
        """
        if max_length is not None:
            split = split.cut(max_length)
        inputs = split.inputs
        if self.is_text and min_freq > 1:
            size = self.vocabulary_size(min_freq)
            inputs = torch.where(inputs >= size, torch.full_like(inputs, UNK_ID), inputs)
        return SequenceSplit(inputs, split.lengths, split.labels, split.chars, split.padded)

    def preprocessing(self) -> dict[str, Any]:
        """What a saved model needs to read new inputs (plain types, safe to ``torch.save``)."""
        return {
            "label_names": list(self.label_names),
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
            "n_features": self.n_features,
            "max_length": self.max_length,
            "source": self.source,
        }
