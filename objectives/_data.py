"""Sequence-classification data, loaded and tensorized once per worker process.

Trials never read files: a worker loads a :class:`ClassificationData` once, and each trial
takes a cheap :meth:`ClassificationData.view` for its vocabulary cut-off and maximum length.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from objectives.errors import ObjectiveError

if TYPE_CHECKING:
    import pandas as pd

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"

BUILTIN_DATASETS = ("digits",)
"""Datasets shipped inside installed packages, usable offline."""

TEXT_FORMATS = ("auto", "table", "trec", "ag_news")
"""File layouts of classification data: ``auto`` reads ``*.label`` as TREC, else a table."""

AG_NEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")
"""Names of AG News classes 1..4 (``classes.txt`` of the release)."""


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
        validation: Split the trial reports on (taken from the training data only).
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
    indices = np.arange(len(labels))
    _, counts = np.unique(labels, return_counts=True)
    stratify = labels if counts.min() >= 2 else None
    first, second = train_test_split(
        indices, test_size=fraction, random_state=seed, stratify=stratify
    )
    return np.sort(first), np.sort(second)


def load_digits(*, seed: int = 0, validation_fraction: float = 0.2, test_fraction: float = 0.2):
    """scikit-learn's bundled handwritten digits, each 8x8 image read as 8 rows of 8 features.

    Args:
        seed: Seed of the train/validation/test split.
        validation_fraction: Share of the non-test rows used for validation.
        test_fraction: Share of all rows held back as the test split.

    Returns:
        A :class:`ClassificationData` with float-feature inputs ``[N, 8, 8]`` in ``[0, 1]``.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32)  # [N, 8 rows, 8 pixels]
    labels = np.asarray(bunch.target)
    rest, test = _split_indices(labels, test_fraction, seed)
    train_rel, validation_rel = _split_indices(labels[rest], validation_fraction, seed)
    train, validation = rest[train_rel], rest[validation_rel]

    def split(rows: np.ndarray) -> SequenceSplit:
        index = torch.as_tensor(rows)
        return SequenceSplit(
            images[index],
            torch.full((len(rows),), 8, dtype=torch.long),
            torch.as_tensor(labels[rows], dtype=torch.long),
        )

    return ClassificationData(
        train=split(train),
        validation=split(validation),
        test=split(test),
        label_names=[str(name) for name in bunch.target_names],
        n_features=8,
        source="digits",
    )


def _encode_texts(
    token_lists: list[list[str]], token_to_id: dict[str, int], max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists to padded ``[N, T]`` ids and ``[N]`` lengths (an empty text reads as unk)."""
    width = max(1, min(max_length, max((len(tokens) for tokens in token_lists), default=1)))
    ids = torch.full((len(token_lists), width), PAD_ID, dtype=torch.long)
    lengths = torch.ones(len(token_lists), dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        kept = tokens[:width] or [UNK_TOKEN]
        ids[row, : len(kept)] = torch.tensor([token_to_id.get(t, UNK_ID) for t in kept])
        lengths[row] = len(kept)
    return ids, lengths


def build_text_data(
    texts: list[str],
    labels: list[str],
    *,
    test_texts: list[str] | None = None,
    test_labels: list[str] | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_length: int = 400,
    source: str = "",
) -> ClassificationData:
    """Tokenize texts once, build the vocabulary on the training split, and tensorize.

    Args:
        texts: Training texts (validation is split off these).
        labels: Their labels (any hashable, turned into strings).
        test_texts: Held-back texts; when ``None``, ``test_fraction`` of ``texts`` is held back.
        test_labels: Their labels.
        seed: Seed of the splits.
        validation_fraction: Share of training rows used for validation.
        test_fraction: Share held back for testing when no test texts are given.
        max_length: Longest sequence stored; trials may cut shorter.
        source: Name for messages.

    Returns:
        The tensorized :class:`ClassificationData`.

    Raises:
        ObjectiveError: Empty data or a single class.
    """
    labels = [str(label) for label in labels]
    _check_labels(labels, source)
    label_array = np.asarray(labels)
    if test_texts is None:
        rest, test_rows = _split_indices(label_array, test_fraction, seed)
        test_texts = [texts[i] for i in test_rows]
        test_labels = [labels[i] for i in test_rows]
    else:
        rest = np.arange(len(texts))
        test_labels = [str(label) for label in (test_labels or [])]
    train_rel, validation_rel = _split_indices(label_array[rest], validation_fraction, seed)
    train_rows, validation_rows = rest[train_rel], rest[validation_rel]

    label_names = sorted(set(labels))
    label_to_id = {name: i for i, name in enumerate(label_names)}
    unknown_test = sorted(set(test_labels) - set(label_names))
    if unknown_test:
        raise ObjectiveError(
            f"test labels {unknown_test[:5]} of {source!r} never occur in the training data; "
            f"known labels: {label_names}"
        )

    tokens = [tokenize(text) for text in texts]
    counts = Counter(token for row in train_rows for token in tokens[row])
    ranked = [token for token, _ in counts.most_common()]
    vocabulary = [PAD_TOKEN, UNK_TOKEN, *ranked]
    token_to_id = {token: i for i, token in enumerate(vocabulary)}

    def split(token_lists: list[list[str]], split_labels: list[str]) -> SequenceSplit:
        ids, lengths = _encode_texts(token_lists, token_to_id, max_length)
        label_ids = torch.tensor([label_to_id[label] for label in split_labels], dtype=torch.long)
        return SequenceSplit(ids, lengths, label_ids)

    train = split([tokens[i] for i in train_rows], [labels[i] for i in train_rows])
    validation = split([tokens[i] for i in validation_rows], [labels[i] for i in validation_rows])
    test = split([tokenize(text) for text in test_texts], test_labels)
    # Every split shares one width so a trial's max_length cut means the same everywhere.
    width = max(train.inputs.shape[1], validation.inputs.shape[1], test.inputs.shape[1])
    for part in (train, validation, test):
        if part.inputs.shape[1] < width:
            part.inputs = torch.nn.functional.pad(part.inputs, (0, width - part.inputs.shape[1]))
    return ClassificationData(
        train=train,
        validation=validation,
        test=test,
        label_names=label_names,
        vocabulary=vocabulary,
        token_counts=[0, 0, *(counts[token] for token in ranked)],
        source=source,
    )


def _read_table(path: Path, *, header: bool = True) -> pd.DataFrame:
    """Read a CSV (``.csv``) or TSV (``.tsv`` or tabs in the first line), gzip or plain.

    With ``header=False`` columns are numbered from 0 (headerless files such as SMS Spam).
    """
    import csv
    import gzip

    import pandas as pd

    if not path.is_file():
        raise ObjectiveError(f"data file {str(path)!r} does not exist")
    name = path.name.lower().removesuffix(".gz")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            first_line = handle.readline()
        tabs = name.endswith(".tsv") or (not name.endswith(".csv") and "\t" in first_line)
        options: dict[str, Any] = {"header": 0 if header else None}
        if tabs:
            # Tab-separated text keeps its quotes as characters (texts quote freely).
            options.update(sep="\t", quoting=csv.QUOTE_NONE)
        return pd.read_csv(path, **options)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ObjectiveError(f"cannot read {str(path)!r} as a CSV/TSV table: {reason}") from None


def _columns(
    frame: pd.DataFrame, path: str, text_column: str | int, label_column: str | int
) -> tuple[list[str], list[str]]:
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise ObjectiveError(
            f"column {missing[0]!r} is not in {path!r}; available columns: "
            f"{', '.join(map(str, frame.columns))} (set --text-column / --label-column; "
            "column numbers from 0 read a file without a header)"
        )
    frame = frame.dropna(subset=[text_column, label_column])
    return frame[text_column].astype(str).tolist(), frame[label_column].astype(str).tolist()


def load_text_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    test_path: str | Path | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_length: int = 400,
) -> ClassificationData:
    """A CSV/TSV file (optionally gzip-compressed) with a text and a label column.

    Args:
        path: Training table.
        text_column: Column holding the text.
        label_column: Column holding the class label.
        test_path: Optional held-back table with the same columns.
        seed: Seed of the splits.
        validation_fraction: Share of training rows used for validation.
        test_fraction: Share held back when ``test_path`` is not given.
        max_length: Longest sequence stored.

    Returns:
        The tensorized :class:`ClassificationData`.
    """
    path = Path(path)
    # Column numbers (e.g. --text-column 1 --label-column 0) mean a file without a header.
    header = not (text_column.isdigit() and label_column.isdigit())
    columns = (text_column, label_column) if header else (int(text_column), int(label_column))
    texts, labels = _columns(_read_table(path, header=header), str(path), *columns)
    test_texts = test_labels = None
    if test_path is not None:
        test_texts, test_labels = _columns(
            _read_table(Path(test_path), header=header), str(test_path), *columns
        )
    return build_text_data(
        texts,
        labels,
        test_texts=test_texts,
        test_labels=test_labels,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        max_length=max_length,
        source=str(path),
    )


def read_trec_file(path: str | Path, *, label: str = "coarse") -> tuple[list[str], list[str]]:
    """Read a TREC question file: ``COARSE:fine question text`` per line, latin-1.

    Args:
        path: ``train_5500.label`` or ``TREC_10.label`` (plain or gzip).
        label: ``coarse`` (6 classes such as ``DESC``) or ``fine`` (``DESC:manner``, 50).

    Returns:
        ``(texts, labels)``.

    Raises:
        ObjectiveError: A line without a ``COARSE:fine`` label, naming its line number.
    """
    import gzip

    path = Path(path)
    if label not in ("coarse", "fine"):
        raise ObjectiveError(f"TREC label must be 'coarse' or 'fine', but got {label!r}")
    if not path.is_file():
        raise ObjectiveError(f"data file {str(path)!r} does not exist")
    opener = gzip.open if path.name.endswith(".gz") else open
    texts: list[str] = []
    labels: list[str] = []
    with opener(path, "rt", encoding="latin-1") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            tag, _, text = line.partition(" ")
            coarse, colon, fine = tag.partition(":")
            if not colon or not coarse.isupper() or not fine or not text:
                raise ObjectiveError(
                    f"{path}:{line_number}: expected 'COARSE:fine question text' (TREC), "
                    f"got {line[:60]!r}"
                )
            texts.append(text)
            labels.append(coarse if label == "coarse" else tag)
    return texts, labels


def read_ag_news_file(path: str | Path) -> tuple[list[str], list[str]]:
    """Read an AG News CSV without header: ``"class","title","description"``, class 1..4.

    The text is the title and the description joined; classes become their names
    (:data:`AG_NEWS_CLASSES`).

    Raises:
        ObjectiveError: A row without 3 columns or a class outside 1..4.
    """
    frame = _read_table(Path(path), header=False)
    if frame.shape[1] != 3:
        raise ObjectiveError(
            f"{path}: AG News rows have 3 columns (class, title, description), "
            f"but this file has {frame.shape[1]}"
        )
    frame = frame.fillna("")
    texts = (frame[1].astype(str) + ". " + frame[2].astype(str).str.replace("\\", " ")).tolist()
    labels: list[str] = []
    for row, value in enumerate(frame[0].tolist()):
        if str(value) not in {"1", "2", "3", "4"}:
            raise ObjectiveError(f"{path}:{row + 1}: AG News class must be 1..4, but got {value!r}")
        labels.append(AG_NEWS_CLASSES[int(value) - 1])
    return texts, labels


def load_hf_text(
    name: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 0,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_length: int = 400,
) -> ClassificationData:
    """A Hugging Face hub dataset (``hf:imdb``): its ``train`` split, and ``test`` held back."""
    try:
        import datasets
    except ImportError:
        raise ObjectiveError(
            f"data 'hf:{name}' needs the Hugging Face `datasets` package: pip install datasets"
        ) from None
    try:
        loaded = datasets.load_dataset(name)
    except Exception as exc:  # the hub raises many types: network, missing, auth
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ObjectiveError(f"cannot load Hugging Face dataset {name!r}: {reason}") from None
    if "train" not in loaded:
        raise ObjectiveError(
            f"Hugging Face dataset {name!r} has no 'train' split; splits: {list(loaded)}"
        )
    train = loaded["train"]
    for column in (text_column, label_column):
        if column not in train.column_names:
            raise ObjectiveError(
                f"column {column!r} is not in Hugging Face dataset {name!r}; available columns: "
                f"{', '.join(train.column_names)} (set --text-column / --label-column)"
            )
    feature = train.features[label_column]
    names = getattr(feature, "names", None)

    def label_strings(values: list[Any]) -> list[str]:
        return [names[v] if names is not None else str(v) for v in values]

    test_texts = test_labels = None
    if "test" in loaded:
        test_texts = list(loaded["test"][text_column])
        test_labels = label_strings(list(loaded["test"][label_column]))
    return build_text_data(
        list(train[text_column]),
        label_strings(list(train[label_column])),
        test_texts=test_texts,
        test_labels=test_labels,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        max_length=max_length,
        source=f"hf:{name}",
    )


def load_classification_data(
    data: str = "digits",
    *,
    text_column: str = "text",
    label_column: str = "label",
    test_data: str | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_length: int = 400,
    data_format: str = "auto",
) -> ClassificationData:
    """Load the data a classification study names: ``digits``, a CSV/TSV path or ``hf:NAME``.

    ``data_format`` picks the file layout (:data:`TEXT_FORMATS`): ``trec`` reads
    ``COARSE:fine question`` lines (``label_column`` ``coarse`` or ``fine``), ``ag_news`` a
    headerless ``class,title,description`` CSV; ``auto`` reads ``*.label`` files as TREC.

    Raises:
        ObjectiveError: The data cannot be found or read, or has fewer than 2 classes.
    """
    if not 0 < validation_fraction < 1:
        raise ObjectiveError(
            f"validation_fraction must be between 0 and 1, but got {validation_fraction}"
        )
    if not 0 < test_fraction < 1:
        raise ObjectiveError(f"test_fraction must be between 0 and 1, but got {test_fraction}")
    if data == "digits":
        return load_digits(
            seed=seed, validation_fraction=validation_fraction, test_fraction=test_fraction
        )
    common: dict[str, Any] = {
        "text_column": text_column,
        "label_column": label_column,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "max_length": max_length,
    }
    if data.startswith("hf:"):
        return load_hf_text(data.removeprefix("hf:"), **common)
    path = Path(data).expanduser()
    if not path.exists():
        raise ObjectiveError(
            f"data {data!r} is neither a file nor a known dataset; accepted: "
            f"{', '.join(BUILTIN_DATASETS)}, a CSV/TSV path, or hf:NAME"
        )
    if data_format not in TEXT_FORMATS:
        raise ObjectiveError(
            f"data format {data_format!r} is not accepted for classification; accepted: "
            f"{', '.join(TEXT_FORMATS)}"
        )
    if data_format == "auto" and path.name.removesuffix(".gz").endswith(".label"):
        data_format = "trec"
    if data_format == "table":
        data_format = "auto"
    if data_format == "auto":
        return load_text_table(path, test_path=test_data, **common)
    label = label_column if label_column in ("coarse", "fine") else "coarse"

    def read(file: str | Path) -> tuple[list[str], list[str]]:
        if data_format == "trec":
            return read_trec_file(file, label=label)
        return read_ag_news_file(file)

    texts, labels = read(path)
    test_texts = test_labels = None
    if test_data is not None:
        test_texts, test_labels = read(test_data)
    return build_text_data(
        texts,
        labels,
        test_texts=test_texts,
        test_labels=test_labels,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        max_length=max_length,
        source=str(path),
    )
