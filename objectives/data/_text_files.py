"""Classification data read from files and the hub, each encoded once and then cached.

A study names a training file and, optionally, a held-back test file and a validation file
(a corpus's development split, which the trials are then scored on instead of a fraction
split off the training rows). Tables (CSV/TSV), TREC ``.label`` files and the AG News CSV
are read here; the tensors are built by :func:`objectives.data._encoding.build_text_data`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objectives.data._cache import cached_data, split_files
from objectives.data._encoding import build_text_data, load_digits
from objectives.data._formats import TextFormat, detect_text_format, format_hint
from objectives.data._splits import DEFAULT_SPLIT, SplitSettings
from objectives.data._text import BUILTIN_DATASETS, ClassificationData
from objectives.errors import (
    ObjectiveError,
    damaged_gzip,
    damaged_gzip_errors,
    empty_validation,
    missing_file,
)
from storage.errors import first_line

if TYPE_CHECKING:
    import pandas as pd

AG_NEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")
"""Names of AG News classes 1..4 (``classes.txt`` of the release)."""

TextReader = Callable[[str | Path], tuple[list[str], list[str]]]
"""Reads one file of a layout into ``(texts, labels)``."""


def _read_table(path: Path, *, header: bool = True) -> pd.DataFrame:
    """Read a CSV (``.csv``) or TSV (``.tsv`` or tabs in the first line), gzip or plain.

    With ``header=False`` columns are numbered from 0 (headerless files such as SMS Spam).
    """
    import csv
    import gzip

    import pandas as pd

    if not path.is_file():
        raise missing_file(path)
    name = path.name.lower().removesuffix(".gz")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            header_line = handle.readline()
        tabs = name.endswith(".tsv") or (not name.endswith(".csv") and "\t" in header_line)
        options: dict[str, Any] = {"header": 0 if header else None}
        if tabs:
            # Tab-separated text keeps its quotes as characters (texts quote freely).
            options.update(sep="\t", quoting=csv.QUOTE_NONE)
        return pd.read_csv(path, **options)
    except damaged_gzip_errors() as exc:
        raise damaged_gzip(path, exc) from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        reason = first_line(exc)
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
    validation_path: str | Path | None = None,
    split: SplitSettings = DEFAULT_SPLIT,
    max_length: int = 400,
) -> ClassificationData:
    """A CSV/TSV file (optionally gzip-compressed) with a text and a label column.

    Args:
        path: Training table.
        text_column: Column holding the text.
        label_column: Column holding the class label.
        test_path: Optional held-back table with the same columns.
        validation_path: Optional table with the same columns that the trials are scored
            on; then every training row trains.
        split: Seed and fractions of the train / validation / test split.
        max_length: Longest sequence stored.

    Returns:
        The tensorized :class:`ClassificationData`.
    """
    path = Path(path)
    # Column numbers (e.g. --text-column 1 --label-column 0) mean a file without a header.
    header = not (text_column.isdigit() and label_column.isdigit())
    columns = (text_column, label_column) if header else (int(text_column), int(label_column))

    def read(file: str | Path) -> tuple[list[str], list[str]]:
        return _columns(_read_table(Path(file), header=header), str(file), *columns)

    return _read_files(read, path, test_path, validation_path, split, max_length)


def _read_files(
    read: TextReader,
    path: Path,
    test_path: str | Path | None,
    validation_path: str | Path | None,
    split: SplitSettings,
    max_length: int,
) -> ClassificationData:
    """``read`` the training file, and the test and validation files if given, into tensors."""
    texts, labels = read(path)
    test_texts, test_labels = read(test_path) if test_path is not None else (None, None)
    validation_texts, validation_labels = None, None
    if validation_path is not None:
        validation_texts, validation_labels = read(validation_path)
        if not validation_texts:
            raise empty_validation(validation_path, "rows")
    return build_text_data(
        texts,
        labels,
        test_texts=test_texts,
        test_labels=test_labels,
        validation_texts=validation_texts,
        validation_labels=validation_labels,
        split=split,
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
        raise missing_file(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    texts: list[str] = []
    labels: list[str] = []
    try:
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
                        f"got {line[:60]!r}; {format_hint()}"
                    )
                texts.append(text)
                labels.append(coarse if label == "coarse" else tag)
    except damaged_gzip_errors() as exc:
        raise damaged_gzip(path, exc) from None
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
            f"but this file has {frame.shape[1]}; {format_hint()}"
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
    split: SplitSettings = DEFAULT_SPLIT,
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
        reason = first_line(exc)
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
        split=split,
        max_length=max_length,
        source=f"hf:{name}",
    )


def load_classification_data(
    data: str = "digits",
    *,
    text_column: str = "text",
    label_column: str = "label",
    test_data: str | None = None,
    validation_data: str | None = None,
    split: SplitSettings = DEFAULT_SPLIT,
    max_length: int = 400,
    data_format: TextFormat = "auto",
) -> ClassificationData:
    """Load the data a classification study names: ``digits``, a CSV/TSV path or ``hf:NAME``.

    ``data_format`` picks the file layout (:data:`TextFormat`; a config's was checked when it
    was built): ``trec`` reads ``COARSE:fine question`` lines (``label_column`` ``coarse`` or
    ``fine``), ``ag_news`` a headerless ``class,title,description`` CSV, ``table`` a CSV/TSV
    with a header; ``auto`` detects which of the three a file is (:func:`detect_text_format`).
    The test and validation files (optional) are read in the layout of ``data``.

    Raises:
        ObjectiveError: The data cannot be found or read, or has fewer than 2 classes; a
            validation file with built-in or ``hf:`` data.
    """
    if validation_data is not None and (data in BUILTIN_DATASETS or data.startswith("hf:")):
        raise ObjectiveError(
            f"validation_data {validation_data!r} is read only with a data file, but data is "
            f"{data!r} (whose trials are scored on validation_fraction of its training rows); "
            "leave validation_data out or give the training data as a file"
        )
    if data == "digits":
        return load_digits(split)
    common: dict[str, Any] = {
        "text_column": text_column,
        "label_column": label_column,
        "split": split,
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
    if data_format == "auto":
        data_format = detect_text_format(path, text_column, label_column)
    label = label_column if label_column in ("coarse", "fine") else "coarse"

    def read(file: str | Path) -> tuple[list[str], list[str]]:
        if data_format == "trec":
            return read_trec_file(file, label=label)
        return read_ag_news_file(file)

    def build() -> ClassificationData:
        if data_format == "table":
            return load_text_table(
                path, test_path=test_data, validation_path=validation_data, **common
            )
        return _read_files(read, path, test_data, validation_data, split, max_length)

    settings = {
        "source": str(path),
        "format": data_format,
        "text_column": text_column,
        "label_column": label_column,
        "max_length": max_length,
        **dataclasses.asdict(split),
    }
    files, named = split_files(path, test_data, validation_data)
    return cached_data(ClassificationData, files, {**settings, **named}, build)
