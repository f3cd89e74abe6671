"""Tabular classification data for the MLP task: CSV files and scikit-learn's bundled sets.

Non-numeric feature columns are one-hot encoded (levels taken from the training split;
a level unseen there encodes as all zeros) unless they have more than ``max_categories``
distinct values, which usually means an ID or free-text column, and is rejected. Missing
values are rejected rather than imputed, so nothing is silently invented. Numeric columns
are standardized with the mean and standard deviation of the training split only; both are
kept in :class:`TabularPreprocessor` so new rows can be transformed the same way later.

Unlike the text and tagged loaders, ``validation_fraction`` is a share of all rows here (as
it always was for tables), so existing tabular studies keep their splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from objectives.data._splits import DEFAULT_SPLIT, SplitSettings
from objectives.errors import ObjectiveError, missing_file

BuiltinTabular = Literal["wine", "breast_cancer", "iris", "digits"]
_MISSING_VALUE_EXAMPLES = 3


@dataclass
class TabularPreprocessor:
    """How raw columns become the model's standardized feature vector.

    Attributes:
        numeric_columns: Numeric feature columns, in feature order.
        categorical_levels: For each one-hot encoded column, its levels in feature order.
        feature_names: Name of each output feature (``"color=red"`` for one-hot features).
        mean: Per-feature training mean (0 for one-hot features), shape ``[n_features]``.
        std: Per-feature training standard deviation (1 for one-hot and constant
            features), shape ``[n_features]``.
    """

    numeric_columns: list[str]
    categorical_levels: dict[str, list[str]]
    feature_names: list[str]
    mean: np.ndarray
    std: np.ndarray

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """One-hot encode ``frame``'s columns without standardizing them.

        Args:
            frame: Rows with at least the columns named in this preprocessor.

        Returns:
            ``float64`` array, shape ``[n_rows, n_features]``.
        """
        parts = [frame[self.numeric_columns].to_numpy(dtype=np.float64)]
        for column, levels in self.categorical_levels.items():
            values = frame[column].astype(str).to_numpy()
            parts.append((values[:, None] == np.asarray(levels)[None, :]).astype(np.float64))
        return np.concatenate(parts, axis=1)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode and standardize rows exactly as the training data was.

        Args:
            frame: Rows with at least the columns named in this preprocessor.

        Returns:
            ``float32`` array, shape ``[n_rows, n_features]``.
        """
        return ((self.encode(frame) - self.mean) / self.std).astype(np.float32)


@dataclass
class TabularData:
    """Standardized features and label ids, split into train/validation/test.

    Attributes:
        x_train: Features, ``float32`` ``[n_train, n_features]``; likewise ``x_validation``
            and ``x_test`` (which may have 0 rows when their fraction is 0).
        y_train: Label ids, ``int64`` ``[n_train]``; likewise ``y_validation``, ``y_test``.
        label_names: Name of each label id.
        preprocessor: The encoding and training-split statistics, to reuse on new rows.
        source: Where the data came from, for messages.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_names: list[str]
    preprocessor: TabularPreprocessor
    source: str

    @property
    def n_features(self) -> int:
        """Width of a feature vector."""
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of label classes."""
        return len(self.label_names)


def load_tabular_csv(
    path: str | Path,
    label_column: str,
    split: SplitSettings = DEFAULT_SPLIT,
    *,
    max_categories: int = 50,
) -> TabularData:
    """Load a CSV file (header row; plain or compressed) as a classification dataset.

    Args:
        path: The CSV file; compression is inferred from the extension (``.gz``, ...).
        label_column: Column holding the class label; every other column is a feature.
        split: Seed and fractions of the stratified split; the two fractions (each of all
            rows) sum to less than 1.
        max_categories: Most distinct values a non-numeric feature column may have to be
            one-hot encoded.

    Returns:
        The split, standardized data.

    Raises:
        ObjectiveError: A missing or empty file, a missing label column (the message lists
            the columns), a single class, missing values, a non-numeric column with too
            many values, fractions that leave no training rows, or a class too small to
            stratify.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file(path, "CSV file")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ObjectiveError(
            f"{path}: the file is empty; expected a header row and data rows."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ObjectiveError(f"{path}: not a readable UTF-8 CSV file ({error}).") from None
    return prepare_tabular(
        frame, label_column, split, max_categories=max_categories, source=str(path)
    )


def load_tabular_builtin(name: BuiltinTabular, split: SplitSettings = DEFAULT_SPLIT) -> TabularData:
    """Load one of scikit-learn's bundled classification sets (no network needed).

    Args:
        name: ``"wine"`` (178 rows, 3 classes), ``"breast_cancer"`` (569 rows, 2 classes),
            ``"iris"`` (150 rows, 3 classes) or ``"digits"`` (1,797 rows, 10 classes).
        split: Seed and fractions of the stratified split.

    Returns:
        The split, standardized data; label names are scikit-learn's ``target_names``.

    Raises:
        ObjectiveError: An unknown name, or fractions that leave no training rows.
    """
    from sklearn import datasets

    loaders = {
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "iris": datasets.load_iris,
        "digits": datasets.load_digits,
    }
    if name not in loaders:
        raise ObjectiveError(
            f"unknown built-in tabular dataset {name!r}; accepted: {', '.join(loaders)}."
        )
    bunch = loaders[name](as_frame=True)
    frame = bunch.frame
    label_names = [str(label) for label in bunch.target_names]
    # Map ids to names so the label order below is scikit-learn's, not alphabetical.
    frame["target"] = [label_names[label] for label in bunch.target]
    return prepare_tabular(
        frame, "target", split, label_order=label_names, source=f"sklearn:{name}"
    )


def prepare_tabular(
    frame: pd.DataFrame,
    label_column: str,
    split: SplitSettings = DEFAULT_SPLIT,
    *,
    max_categories: int = 50,
    label_order: Sequence[str] | None = None,
    source: str = "frame",
) -> TabularData:
    """Split, encode and standardize a data frame (see :func:`load_tabular_csv`).

    Args:
        frame: One row per example, a header per column.
        label_column: Column holding the class label.
        split: Seed and fractions of the stratified split.
        max_categories: Most distinct values a non-numeric feature column may have.
        label_order: Label names in id order; sorted label values when omitted.
        source: Where the frame came from, for messages.

    Returns:
        The split, standardized data.

    Raises:
        ObjectiveError: As for :func:`load_tabular_csv`.
    """
    # SplitSettings checked each fraction; both are shares of all rows here, so together
    # they must leave training rows.
    if split.validation_fraction + split.test_fraction >= 1.0:
        raise ObjectiveError(
            f"validation_fraction + test_fraction must be below 1 to leave training rows, but "
            f"got {split.validation_fraction} + {split.test_fraction}."
        )
    if label_column not in frame.columns:
        raise ObjectiveError(
            f"{source}: no label column {label_column!r}; available columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    if frame.empty:
        raise ObjectiveError(f"{source}: no data rows, only a header.")
    feature_columns = [column for column in frame.columns if column != label_column]
    if not feature_columns:
        raise ObjectiveError(f"{source}: no feature columns besides the label {label_column!r}.")
    _reject_missing_values(frame, source)

    labels = frame[label_column].astype(str)
    label_names = (
        list(label_order) if label_order is not None else _sorted_labels(frame[label_column])
    )
    if len(label_names) < 2:
        raise ObjectiveError(
            f"{source}: label column {label_column!r} has one class ({label_names[0]!r}); "
            "classification needs at least 2."
        )
    mapped_labels = labels.map({name: index for index, name in enumerate(label_names)})
    if mapped_labels.isna().any():
        raise ValueError(f"label_order {label_names} lacks labels of {source}.")
    label_ids = mapped_labels.to_numpy(np.int64)

    numeric_columns = [
        column for column in feature_columns if pd.api.types.is_numeric_dtype(frame[column])
    ]
    categorical_columns = [column for column in feature_columns if column not in numeric_columns]
    for column in categorical_columns:
        n_levels = frame[column].nunique()
        if n_levels > max_categories:
            raise ObjectiveError(
                f"{source}: column {column!r} is non-numeric with {n_levels} distinct values; "
                f"one-hot encoding accepts at most max_categories={max_categories}. Drop it or "
                "encode it as numbers."
            )

    rows = np.arange(len(frame))
    train_rows, validation_rows, test_rows = _stratified_split(
        rows, label_ids, label_names, split, source
    )

    train = frame.iloc[train_rows]
    categorical_levels = {
        column: sorted(train[column].astype(str).unique()) for column in categorical_columns
    }
    feature_names = list(map(str, numeric_columns)) + [
        f"{column}={level}" for column, levels in categorical_levels.items() for level in levels
    ]
    n_numeric = len(numeric_columns)
    preprocessor = TabularPreprocessor(
        numeric_columns=list(numeric_columns),
        categorical_levels=categorical_levels,
        feature_names=feature_names,
        mean=np.zeros(len(feature_names)),
        std=np.ones(len(feature_names)),
    )
    # Statistics come from the training rows only, so validation and test stay unseen.
    train_numeric = preprocessor.encode(train)[:, :n_numeric]
    spread = train_numeric.std(axis=0)
    preprocessor.mean[:n_numeric] = train_numeric.mean(axis=0)
    # A column constant on the training rows carries no signal; dividing by 1 keeps it finite.
    preprocessor.std[:n_numeric] = np.where(spread > 0, spread, 1.0)

    return TabularData(
        x_train=preprocessor.transform(train),
        y_train=label_ids[train_rows],
        x_validation=preprocessor.transform(frame.iloc[validation_rows]),
        y_validation=label_ids[validation_rows],
        x_test=preprocessor.transform(frame.iloc[test_rows]),
        y_test=label_ids[test_rows],
        label_names=label_names,
        preprocessor=preprocessor,
        source=source,
    )


def _sorted_labels(labels: pd.Series) -> list[str]:
    # Numeric labels sort by value (2 before 10); their names are still strings.
    return [str(value) for value in sorted(labels.unique())]


def _reject_missing_values(frame: pd.DataFrame, source: str) -> None:
    missing = frame.isna()
    if not missing.any().any():
        return
    column = next(name for name in frame.columns if missing[name].any())
    positions = np.flatnonzero(missing[column].to_numpy())[:_MISSING_VALUE_EXAMPLES]
    # Data row i is line i + 2 of a CSV file with a header (unless quoted newlines occur).
    lines = ", ".join(str(position + 2) for position in positions)
    raise ObjectiveError(
        f"{source}: column {column!r} has {int(missing[column].sum())} missing values "
        f"(first at line {lines}); fill or drop them, missing values are not imputed."
    )


def _stratified_split(
    rows: np.ndarray,
    label_ids: np.ndarray,
    label_names: list[str],
    split: SplitSettings,
    source: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/validation/test row indices."""
    # Imported here: scikit-learn takes a while to import and only this task needs it.
    from sklearn.model_selection import train_test_split

    try:
        rest, test = train_test_split(
            rows, test_size=split.test_fraction, random_state=split.seed, stratify=label_ids
        )
        # The validation share is of all rows, so rescale it to the rows left after test.
        train, validation = train_test_split(
            rest,
            test_size=split.validation_fraction / (1.0 - split.test_fraction),
            random_state=split.seed,
            stratify=label_ids[rest],
        )
    except ValueError as error:
        counts = np.bincount(label_ids, minlength=len(label_names))
        smallest = int(counts.argmin())
        raise ObjectiveError(
            f"{source}: cannot split {len(rows)} rows into stratified train/validation/test "
            f"({error}); the smallest class {label_names[smallest]!r} has {counts[smallest]} "
            "rows. Add rows, merge rare classes or lower the fractions."
        ) from None
    return np.sort(train), np.sort(validation), np.sort(test)
