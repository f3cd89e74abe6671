"""A validation file (a corpus's development split): trials are scored on exactly its rows,
the whole training file trains, the test split is unchanged, and the cache knows the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from objectives import ObjectiveError, load_classification_data, load_tagging_data
from objectives.data._readers import read_tagged_file
from objectives.data._text import ClassificationData, SequenceSplit, tokenize

TRAIN_ROWS = [
    ("pos", "a good film really good"),
    ("neg", "bad acting and a bad plot"),
    ("pos", "good fun"),
    ("neg", "awful just awful"),
    ("pos", "fine and good"),
    ("neg", "boring bad"),
] * 5
DEV_ROWS = [("neg", "bad fun"), ("pos", "good plot unheard"), ("neg", "awful acting")]
TEST_ROWS = [("pos", "good good"), ("neg", "bad")]
TREC_CLASSES = {"pos": "DESC:manner", "neg": "HUM:ind"}


def write_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("label,text\n" + "".join(f"{label},{text}\n" for label, text in rows))
    return path


def write_trec(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{TREC_CLASSES[label]} {text}\n" for label, text in rows))
    return path


def write_ag_news(path: Path, rows: list[tuple[str, str]]) -> Path:
    classes = {"pos": 2, "neg": 1}  # Sports, World
    path.write_text("".join(f'"{classes[label]}","{text}","x"\n' for label, text in rows))
    return path


FORMATS = {
    # name: (writer, file suffix, how a row's text is read, how its label is read)
    "table": (write_table, ".csv", lambda text: text, lambda label: label),
    "trec": (
        write_trec,
        ".label",
        lambda text: text,
        lambda label: TREC_CLASSES[label].partition(":")[0],
    ),
    "ag_news": (
        write_ag_news,
        ".csv",
        lambda text: f"{text}. x",
        lambda label: {"pos": "Sports", "neg": "World"}[label],
    ),
}


def decoded_texts(data: ClassificationData, split: SequenceSplit) -> list[list[str]]:
    assert data.vocabulary is not None
    return [
        [data.vocabulary[i] for i in row[:length].tolist()]
        for row, length in zip(split.inputs, split.lengths.tolist(), strict=True)
    ]


def decoded_labels(data: ClassificationData, split: SequenceSplit) -> list[str]:
    return [data.label_names[i] for i in split.labels.tolist()]


def as_read(data: ClassificationData, text: str) -> list[str]:
    """The tokens of ``text`` as the model sees them (never-trained tokens are unknown)."""
    assert data.vocabulary is not None
    return [t if t in data.vocabulary else "<unk>" for t in tokenize(text)]


@pytest.mark.parametrize("layout", sorted(FORMATS))
def test_classification_validation_is_the_file_and_all_of_the_training_file_trains(
    tmp_path, layout
):
    write, suffix, text_of, label_of = FORMATS[layout]
    train = write(tmp_path / f"train{suffix}", TRAIN_ROWS)
    dev = write(tmp_path / f"dev{suffix}", DEV_ROWS)
    test = write(tmp_path / f"test{suffix}", TEST_ROWS)
    data = load_classification_data(str(train), test_data=str(test), validation_data=str(dev))
    assert decoded_labels(data, data.validation) == [label_of(label) for label, _ in DEV_ROWS]
    assert decoded_texts(data, data.validation) == [as_read(data, text_of(t)) for _, t in DEV_ROWS]
    assert "unheard" not in (data.vocabulary or [])  # the vocabulary is the training data's
    # Every training row trains, in the file's order.
    assert decoded_labels(data, data.train) == [label_of(label) for label, _ in TRAIN_ROWS]
    assert decoded_texts(data, data.train) == [tokenize(text_of(t)) for _, t in TRAIN_ROWS]
    assert decoded_labels(data, data.test) == [label_of(label) for label, _ in TEST_ROWS]


def test_without_a_test_file_the_same_rows_are_held_back_and_the_rest_trains(tmp_path):
    train = write_table(tmp_path / "train.csv", TRAIN_ROWS)
    dev = write_table(tmp_path / "dev.csv", DEV_ROWS)
    fraction = load_classification_data(str(train))
    given = load_classification_data(str(train), validation_data=str(dev))
    assert len(given.validation) == len(DEV_ROWS)
    assert len(given.train) + len(given.test) == len(TRAIN_ROWS)
    assert len(given.train) == len(fraction.train) + len(fraction.validation)
    assert decoded_texts(given, given.test) == decoded_texts(fraction, fraction.test)
    assert torch.equal(given.test.labels, fraction.test.labels)


def test_a_validation_label_the_training_data_never_has_is_refused_like_a_test_one(tmp_path):
    train = write_table(tmp_path / "train.csv", TRAIN_ROWS)
    odd = write_table(tmp_path / "odd.csv", [("pos", "good"), ("meh", "so so")])
    for setting in ("test_data", "validation_data"):
        kind = setting.removesuffix("_data")
        with pytest.raises(
            ObjectiveError, match=rf"^{kind} labels \['meh'\] of .* never occur in the training"
        ):
            load_classification_data(str(train), **{setting: str(odd)})


def test_an_empty_or_missing_validation_file_is_refused(tmp_path):
    train = write_table(tmp_path / "train.csv", TRAIN_ROWS)
    empty = write_table(tmp_path / "empty.csv", [])
    with pytest.raises(ObjectiveError, match=r"validation data '.*empty.csv' has no rows"):
        load_classification_data(str(train), validation_data=str(empty))
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(ObjectiveError) as as_test:
        load_classification_data(str(train), test_data=missing)
    with pytest.raises(ObjectiveError) as as_validation:
        load_classification_data(str(train), validation_data=missing)
    assert str(as_validation.value) == str(as_test.value) == f"data file {missing!r} does not exist"


@pytest.mark.parametrize("data", ["digits", "hf:imdb"])
def test_a_validation_file_with_built_in_or_hub_data_is_refused(tmp_path, data):
    dev = write_table(tmp_path / "dev.csv", DEV_ROWS)
    with pytest.raises(
        ObjectiveError, match=rf"is read only with a data file, but data is '{data}'"
    ):
        load_classification_data(data, validation_data=str(dev))


def touch_later(path: Path) -> None:
    """Another modification time, as an edit a second later has."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def cache_entries(cache: str) -> list[str]:
    return sorted(p.name for p in Path(cache).iterdir() if not p.name.startswith("."))


def test_editing_the_validation_file_misses_the_cache(tmp_path, data_cache_dir):
    train = write_table(tmp_path / "train.csv", TRAIN_ROWS)
    dev = write_table(tmp_path / "dev.csv", DEV_ROWS)
    assert len(load_classification_data(str(train), validation_data=str(dev)).validation) == 3
    write_table(dev, DEV_ROWS[:2])
    touch_later(dev)
    assert len(load_classification_data(str(train), validation_data=str(dev)).validation) == 2
    # One file as the test file and as the validation file splits otherwise: two entries.
    as_test = load_classification_data(str(train), test_data=str(dev))
    assert len(as_test.test) == 2 and len(as_test.train) < len(TRAIN_ROWS)
    assert len(cache_entries(data_cache_dir)) == 2


# CoNLL-2003's four columns (token POS chunk NER), IOB1 tags, with its document markers.
CONLL_TRAIN = [
    [("EU", "NNP", "I-NP", "I-ORG"), ("rejects", "VBZ", "I-VP", "O"), ("it", "PRP", "I-NP", "O")],
    [("Peter", "NNP", "I-NP", "I-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [("BRUSSELS", "NNP", "I-NP", "I-LOC"), ("1996-08-22", "CD", "I-NP", "O")],
    [("The", "DT", "I-NP", "O"), ("EU", "NNP", "I-NP", "I-ORG"), ("said", "VBD", "I-VP", "O")],
] * 6
CONLL_DEV = [
    [("Germany", "NNP", "I-NP", "I-LOC"), ("said", "VBD", "I-VP", "O")],
    [("German", "JJ", "I-NP", "I-MISC"), ("EU", "NNP", "I-NP", "I-ORG")],  # MISC: dev only
]
CONLL_TEST = [[("Peter", "NNP", "I-NP", "I-PER"), ("said", "VBD", "I-VP", "O")]]


def write_conll(path: Path, sentences: list[list[tuple[str, ...]]]) -> Path:
    blocks = ["-DOCSTART- -X- -X- O\n"]
    blocks += ["".join(" ".join(token) + "\n" for token in sentence) for sentence in sentences]
    path.write_text("\n".join(blocks) + "\n")
    return path


def tags_of(data, split: SequenceSplit) -> list[list[str]]:
    return [
        [data.label_names[i] for i in row[:length].tolist()]
        for row, length in zip(split.labels, split.lengths.tolist(), strict=True)
    ]


def test_tagging_validation_is_the_file_and_all_of_the_training_file_trains(tmp_path):
    train = write_conll(tmp_path / "eng.train", CONLL_TRAIN)
    dev = write_conll(tmp_path / "eng.testa", CONLL_DEV)
    test = write_conll(tmp_path / "eng.testb", CONLL_TEST)
    data = load_tagging_data(str(train), kind="ner", test_data=str(test), validation_data=str(dev))
    assert tags_of(data, data.validation) == [[t[3] for t in s] for s in CONLL_DEV]
    assert data.validation.lengths.tolist() == [len(s) for s in CONLL_DEV]
    assert tags_of(data, data.train) == [[t[3] for t in s] for s in CONLL_TRAIN]
    assert tags_of(data, data.test) == [[t[3] for t in s] for s in CONLL_TEST]
    # A tag only the validation file has gets an id (scored as missed), as test tags do;
    # the vocabulary is the training data's.
    assert "I-MISC" in data.label_names and data.scheme == "IOB1"
    assert "germany" not in (data.vocabulary or []) and "eu" in (data.vocabulary or [])


def test_tagging_without_a_test_file_holds_back_the_same_sentences(tmp_path):
    train = write_conll(tmp_path / "eng.train", CONLL_TRAIN)
    dev = write_conll(tmp_path / "eng.testa", CONLL_DEV)
    fraction = load_tagging_data(str(train), kind="ner")
    given = load_tagging_data(str(train), kind="ner", validation_data=str(dev))
    assert len(given.validation) == len(CONLL_DEV)
    assert len(given.train) + len(given.test) == len(read_tagged_file(train))
    assert len(given.train) == len(fraction.train) + len(fraction.validation)
    assert tags_of(given, given.test) == tags_of(fraction, fraction.test)


def test_tagging_validation_file_edits_miss_the_cache_and_a_missing_one_is_refused(
    tmp_path, data_cache_dir
):
    train = write_conll(tmp_path / "eng.train", CONLL_TRAIN)
    dev = write_conll(tmp_path / "eng.testa", CONLL_DEV)
    assert len(load_tagging_data(str(train), kind="pos", validation_data=str(dev)).validation) == 2
    write_conll(dev, CONLL_DEV[:1])
    touch_later(dev)
    again = load_tagging_data(str(train), kind="pos", validation_data=str(dev))
    assert len(again.validation) == 1
    missing = str(tmp_path / "eng.nope")
    with pytest.raises(ObjectiveError) as as_test:
        load_tagging_data(str(train), kind="pos", test_data=missing)
    with pytest.raises(ObjectiveError) as as_validation:
        load_tagging_data(str(train), kind="pos", validation_data=missing)
    assert str(as_validation.value) == str(as_test.value)
    assert missing in str(as_validation.value)
