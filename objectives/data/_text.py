"""Sequence-classification data, tensorized once per worker process.

Trials never read files: a worker loads a :class:`ClassificationData` once, and each trial
takes a cheap :meth:`ClassificationData.view` for its vocabulary cut-off and maximum length.
Reading the files and the hub is :mod:`objectives.data._text_files`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from objectives.data._splits import DEFAULT_SPLIT, SplitSettings
from objectives.errors import ObjectiveError

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


def _check_labels(labels: list[str], source: str) -> None:
    if len(labels) == 0:
        raise ObjectiveError(f"dataset {source!r} has no rows; a dataset needs at least 2 classes")
    distinct = sorted(set(labels))
    if len(distinct) < 2:
        raise ObjectiveError(
            f"dataset {source!r} has only one class ({distinct[0]!r}); "
            "classification needs at least 2 classes"
        )


def _split_indices(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of ``range(len(labels))`` when every class can be split."""
    # Imported here: scikit-learn costs seconds to import and is needed once per process.
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if counts.min() >= 2 else None
    first, second = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(first), np.sort(second)


def load_digits(split: SplitSettings = DEFAULT_SPLIT) -> ClassificationData:
    """scikit-learn's bundled handwritten digits, each 8x8 image read as 8 rows of 8 features.

    Args:
        split: Seed and fractions of the train / validation / test split.

    Returns:
        A :class:`ClassificationData` with float-feature inputs ``[N, 8, 8]`` in ``[0, 1]``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)  # [N, 8 rows, 8 pixels]
    labels = np.asarray(bunch.target)
    rest, test = _split_indices(labels, split.test_fraction, split.seed)
    train_rel, validation_rel = _split_indices(labels[rest], split.validation_fraction, split.seed)
    train, validation = rest[train_rel], rest[validation_rel]

    def tensorize(rows: np.ndarray) -> SequenceSplit:
        index = torch.as_tensor(rows)
        return SequenceSplit(
            images[index],
            torch.full((len(rows),), 8, dtype=torch.long),
            torch.as_tensor(labels[rows], dtype=torch.long),
        )

    return ClassificationData(
        train=tensorize(train),
        validation=tensorize(validation),
        test=tensorize(test),
        label_names=[str(name) for name in bunch.target_names],
        n_features=8,
        source="digits",
    )


def _token_ids(texts: list[str], first_seen: dict[str, int]) -> list[np.ndarray]:
    """Each text as int32 ids of ``first_seen`` (a token's id is when it was first seen).

    One text's token strings live only while it is encoded: holding every text's token
    list at once (hundreds of MiB of small strings for IMDB) left the allocator at that
    peak for the life of the worker.
    """
    rows = []
    for text in texts:
        tokens = tokenize(text)
        ids = (first_seen.setdefault(token, len(first_seen)) for token in tokens)
        rows.append(np.fromiter(ids, dtype=np.int32, count=len(tokens)))
    return rows


def _rank_vocabulary(train_rows: list[np.ndarray], n_seen: int) -> tuple[np.ndarray, np.ndarray]:
    """First-seen ids of the training tokens, most frequent first, and their counts.

    Ties keep the order in which the training rows first use a token (what
    ``Counter.most_common`` over the same rows gives).
    """
    train_ids = np.concatenate(train_rows) if train_rows else np.zeros(0, dtype=np.int32)
    counts = np.bincount(train_ids, minlength=n_seen)
    seen, first_use = np.unique(train_ids, return_index=True)
    ranked = seen[np.lexsort((first_use, -counts[seen]))]
    return ranked, counts[ranked]


def _encode_rows(
    rows: list[np.ndarray], to_vocabulary: np.ndarray | None, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Id rows to padded ``[N, width]`` vocabulary ids and ``[N]`` lengths.

    ``to_vocabulary`` maps first-seen ids to vocabulary ids (``None``: they already are).
    An empty text reads as one unknown token.
    """
    ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    lengths = np.ones(len(rows), dtype=np.int64)
    for row, seen_ids in enumerate(rows):
        kept = seen_ids[:width]
        if len(kept) == 0:
            ids[row, 0] = UNK_ID
            continue
        ids[row, : len(kept)] = kept if to_vocabulary is None else to_vocabulary[kept]
        lengths[row] = len(kept)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def _encode_texts(
    token_lists: list[list[str]], token_to_id: dict[str, int], max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists to padded ``[N, T]`` ids and ``[N]`` lengths in a fixed vocabulary (new
    texts for a saved model; unknown tokens read as unk), as the training data was."""
    rows = [
        np.fromiter((token_to_id.get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))
        for tokens in token_lists
    ]
    width = max(1, min(max_length, max((len(ids) for ids in rows), default=1)))
    return _encode_rows(rows, None, width)


def build_text_data(
    texts: list[str],
    labels: list[str],
    *,
    test_texts: list[str] | None = None,
    test_labels: list[str] | None = None,
    validation_texts: list[str] | None = None,
    validation_labels: list[str] | None = None,
    split: SplitSettings = DEFAULT_SPLIT,
    max_length: int = 400,
    source: str = "",
) -> ClassificationData:
    """Tokenize texts once, build the vocabulary on the training split, and tensorize.

    Args:
        texts: Training texts (validation is split off these unless it is given).
        labels: Their labels (any hashable, turned into strings).
        test_texts: Held-back texts; when ``None``, ``test_fraction`` of ``texts`` is held back.
        test_labels: Their labels.
        validation_texts: Texts the trials are scored on (a corpus's development file); when
            ``None``, ``validation_fraction`` of the training rows is split off for it.
        validation_labels: Their labels.
        split: Seed and fractions of the train / validation / test split.
        max_length: Longest sequence stored; trials may cut shorter.
        source: Name for messages.

    Returns:
        The tensorized :class:`ClassificationData`.

    Raises:
        ObjectiveError: Empty data, a single class, or test or validation labels that the
            training data never has.
    """
    labels = [str(label) for label in labels]
    _check_labels(labels, source)
    label_array = np.asarray(labels)
    if test_texts is None:
        rest, test_rows = _split_indices(label_array, split.test_fraction, split.seed)
        test_labels = [labels[i] for i in test_rows]
    else:
        rest = np.arange(len(texts))
        test_labels = [str(label) for label in (test_labels or [])]
    if validation_texts is None:
        train_rel, validation_rel = _split_indices(
            label_array[rest], split.validation_fraction, split.seed
        )
        train_rows, validation_rows = rest[train_rel], rest[validation_rel]
        validation_labels = [labels[i] for i in validation_rows]
    else:  # every training row trains: the trials are scored on the given texts
        train_rows = rest
        validation_labels = [str(label) for label in (validation_labels or [])]

    label_names = sorted(set(labels))
    label_to_id = {name: i for i, name in enumerate(label_names)}
    for name, part_labels in (("test", test_labels), ("validation", validation_labels)):
        unknown = sorted(set(part_labels) - set(label_names))
        if unknown:
            raise ObjectiveError(
                f"{name} labels {unknown[:5]} of {source!r} never occur in the training data; "
                f"known labels: {label_names}"
            )

    # One pass over the texts to compact ids; the vocabulary is ranked on those ids.
    first_seen: dict[str, int] = {}
    rows = _token_ids(texts, first_seen)
    if test_texts is None:
        test_ids = [rows[i] for i in test_rows]
    else:
        test_ids = _token_ids(test_texts, first_seen)
    if validation_texts is None:
        validation_ids = [rows[i] for i in validation_rows]
    else:
        validation_ids = _token_ids(validation_texts, first_seen)
    ranked, ranked_counts = _rank_vocabulary([rows[i] for i in train_rows], len(first_seen))
    seen_tokens = list(first_seen)
    vocabulary = [PAD_TOKEN, UNK_TOKEN, *(seen_tokens[i] for i in ranked)]
    # First-seen id -> vocabulary id; tokens never seen in training read as unknown.
    to_vocabulary = np.full(len(seen_tokens), UNK_ID, dtype=np.int64)
    to_vocabulary[ranked] = np.arange(2, 2 + len(ranked))
    del first_seen, seen_tokens

    parts = {
        "train": ([rows[i] for i in train_rows], [labels[i] for i in train_rows]),
        "validation": (validation_ids, validation_labels),
        "test": (test_ids, test_labels),
    }
    # Every split shares one width so a trial's max_length cut means the same everywhere.
    longest = max((len(ids) for part_rows, _ in parts.values() for ids in part_rows), default=1)
    width = max(1, min(max_length, longest))
    splits = {}
    for name, (part_rows, part_labels) in parts.items():
        ids, lengths = _encode_rows(part_rows, to_vocabulary, width)
        label_ids = torch.tensor([label_to_id[label] for label in part_labels], dtype=torch.long)
        splits[name] = SequenceSplit(ids, lengths, label_ids)
    return ClassificationData(
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        label_names=label_names,
        vocabulary=vocabulary,
        token_counts=[0, 0, *ranked_counts.tolist()],
        source=source,
    )
