"""A .gz data or vectors file that cannot be decompressed is one clear error, never a traceback."""

from __future__ import annotations

import gzip

import pytest

from objectives import load_classification_data
from objectives.data import load_vectors
from objectives.errors import ObjectiveError


def _not_gzip(path):
    path.write_text("text,label\ngood film,pos\n")
    return path


def _truncated(path):
    whole = gzip.compress(b"text,label\n" + b"good film,pos\nbad film,neg\n" * 200)
    path.write_bytes(whole[: len(whole) // 2])
    return path


@pytest.mark.parametrize("damage", [_not_gzip, _truncated])
@pytest.mark.parametrize(
    ("name", "data_format"), [("reviews.csv.gz", "table"), ("train.label.gz", "trec")]
)
def test_a_damaged_gzip_data_file_is_one_error_naming_it(tmp_path, damage, name, data_format):
    path = damage(tmp_path / name)
    with pytest.raises(ObjectiveError, match=r"damaged gzip file") as caught:
        load_classification_data(str(path), data_format=data_format)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_gzip_vectors_file_is_one_error_naming_it(tmp_path):
    path = _not_gzip(tmp_path / "glove.txt.gz")
    with pytest.raises(ObjectiveError, match=rf"{path}: damaged gzip file"):
        load_vectors(str(path), ["good", "film"])


def test_run_on_a_damaged_gzip_file_exits_2_with_one_line(tmp_path, capsys):
    from tests.search.cli_helpers import hpsearch

    path = _not_gzip(tmp_path / "reviews.csv.gz")
    code, _, err = hpsearch(
        capsys, "run", "--data", str(path), "--storage", f"sqlite:///{tmp_path}/s.db"
    )
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {path}: damaged gzip file (")
