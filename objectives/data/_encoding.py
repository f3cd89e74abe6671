"""Texts (and the built-in digits) to the tensors of a :class:`ClassificationData`.

One tokenizing pass over every split; the vocabulary is ranked by training-split frequency,
so a trial's ``min_freq`` cut-off is a comparison of ids (:meth:`ClassificationData.view`).
"""

from __future__ import annotations

import numpy as np
import torch

from objectives.data._splits import DEFAULT_SPLIT, SplitSettings
from objectives.data._text import (
    PAD_ID,
    PAD_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    ClassificationData,
    SequenceSplit,
    tokenize,
)
from objectives.errors import ObjectiveError


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


def encode_token_lists(
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
