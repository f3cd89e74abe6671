"""A classification file's layout is read from the file, so no user has to name it."""

from __future__ import annotations

import gzip

import pytest

from objectives.data._formats import detect_text_format


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("mine.csv", "text,label\nhello there,pos\n", "table"),
        ("mine.tsv", "label\ttext\npos\thello there\n", "table"),
        ("release.csv", '"3","Wall St. Bears","Short-sellers, ..."\n', "ag_news"),
        ("questions.txt", "DESC:manner How did serfdom develop , and why ?\n", "trec"),
        ("train_5500.label", "anything at all\n", "trec"),
        # Three fields led by a class number, but the header names the columns: a table.
        ("table.csv", "1,text,label\n2,hi,pos\n", "table"),
        ("empty.csv", "\n\n", "table"),
    ],
)
def test_the_layout_is_detected_from_name_and_first_line(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    assert detect_text_format(path) == expected


def test_a_gzipped_release_file_is_detected(tmp_path):
    path = tmp_path / "test.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write('"1","Title","Description"\n')
    assert detect_text_format(path) == "ag_news"


def test_named_columns_count_as_a_header(tmp_path):
    path = tmp_path / "renamed.csv"
    path.write_text("1,review,stars\n")
    assert detect_text_format(path) == "ag_news"
    assert detect_text_format(path, text_column="review", label_column="stars") == "table"
