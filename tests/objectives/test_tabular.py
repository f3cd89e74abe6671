"""Tests for objectives.data._tabular on scikit-learn's bundled data and small CSV files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from objectives.data import SplitSettings
from objectives.data._tabular import load_tabular_builtin, load_tabular_csv
from objectives.errors import ObjectiveError


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def two_class_frame(n_rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n_rows),
            "color": ["red", "blue"] * (n_rows // 2),
            "label": ["cat"] * (n_rows // 4) + ["dog"] * (n_rows - n_rows // 4),
        }
    )


def test_wine_is_split_stratified_and_standardized_on_train() -> None:
    data = load_tabular_builtin("wine", SplitSettings(seed=3))

    assert data.label_names == ["class_0", "class_1", "class_2"]
    assert len(data.y_train) + len(data.y_validation) + len(data.y_test) == 178
    assert data.x_train.shape == (len(data.y_train), 13) and data.x_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-4)
    # Wine has 59/71/48 rows per class; stratification keeps each split close to that.
    for labels in (data.y_train, data.y_validation, data.y_test):
        shares = np.bincount(labels, minlength=3) / len(labels)
        np.testing.assert_allclose(shares, [59 / 178, 71 / 178, 48 / 178], atol=0.03)


def test_builtin_split_depends_only_on_the_seed() -> None:
    first = load_tabular_builtin("iris", SplitSettings(seed=1))
    again = load_tabular_builtin("iris", SplitSettings(seed=1))
    other = load_tabular_builtin("iris", SplitSettings(seed=2))

    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


def test_unknown_builtin_lists_the_accepted_names() -> None:
    with pytest.raises(ObjectiveError, match="'mnist'; accepted: wine, breast_cancer"):
        load_tabular_builtin("mnist")  # type: ignore[arg-type]


def test_csv_one_hot_encodes_text_and_keeps_train_statistics(tmp_path: Path) -> None:
    frame = two_class_frame()
    path = tmp_path / "pets.csv.gz"
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))

    data = load_tabular_csv(path, "label", SplitSettings(0, 0.25, 0.25))

    assert data.label_names == ["cat", "dog"]
    assert data.preprocessor.feature_names == ["height", "color=blue", "color=red"]
    assert (len(data.y_train), len(data.y_validation), len(data.y_test)) == (20, 10, 10)
    # One-hot features are left as 0/1; only "height" is standardized.
    assert set(np.unique(data.x_train[:, 1:])) == {0.0, 1.0}
    # Mean and std are those of the training rows alone: un-standardizing gives back
    # original heights, whose mean/std are the stored ones, not the whole file's.
    heights = data.x_train[:, 0] * data.preprocessor.std[0] + data.preprocessor.mean[0]
    assert np.isclose(heights[:, None], frame["height"].to_numpy()[None, :]).any(axis=1).all()
    assert (data.x_train[:, 0].mean(), data.x_train[:, 0].std()) == pytest.approx((0, 1), abs=1e-5)
    assert data.preprocessor.mean[0] != pytest.approx(frame["height"].mean(), abs=1e-3)
    # The stored statistics transform new rows the same way; an unseen level is all zeros.
    new_rows = pd.DataFrame({"height": [data.preprocessor.mean[0]], "color": ["green"]})
    np.testing.assert_allclose(data.preprocessor.transform(new_rows), [[0.0, 0.0, 0.0]])


def test_missing_label_column_lists_available_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pets.csv", two_class_frame())

    with pytest.raises(
        ObjectiveError, match="no label column 'species'; available .*height, color"
    ):
        load_tabular_csv(path, "species")


def test_single_class_is_rejected(tmp_path: Path) -> None:
    frame = two_class_frame().assign(label="cat")
    path = write_csv(tmp_path / "cats.csv", frame)

    with pytest.raises(ObjectiveError, match="one class \\('cat'\\)"):
        load_tabular_csv(path, "label")


def test_empty_and_header_only_files_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("height,label\n")

    with pytest.raises(ObjectiveError, match="empty"):
        load_tabular_csv(empty, "label")
    with pytest.raises(ObjectiveError, match="no data rows"):
        load_tabular_csv(header_only, "label")


def test_missing_values_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("height,label\n1.0,cat\n,dog\n2.0,dog\n")

    with pytest.raises(ObjectiveError, match="'height' has 1 missing values \\(first at line 3\\)"):
        load_tabular_csv(path, "label")


def test_text_column_with_many_values_is_rejected(tmp_path: Path) -> None:
    frame = two_class_frame().assign(name=[f"pet{i}" for i in range(40)])
    path = write_csv(tmp_path / "named.csv", frame)

    with pytest.raises(ObjectiveError, match="'name' is non-numeric with 40 distinct values"):
        load_tabular_csv(path, "label", max_categories=10)


def test_class_too_small_to_stratify_is_reported(tmp_path: Path) -> None:
    frame = two_class_frame()
    frame.loc[1:, "label"] = "dog"
    path = write_csv(tmp_path / "rare.csv", frame)

    with pytest.raises(ObjectiveError, match="smallest class 'cat' has 1 rows"):
        load_tabular_csv(path, "label")


def test_fractions_that_leave_no_training_rows_are_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "pets.csv", two_class_frame())

    # Both are shares of all rows for a table, so 0.5 + 0.5 leaves none to train on.
    with pytest.raises(
        ObjectiveError, match=r"validation_fraction \+ test_fraction must be below 1"
    ):
        load_tabular_csv(path, "label", SplitSettings(0, 0.5, 0.5))
