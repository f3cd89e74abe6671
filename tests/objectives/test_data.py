from __future__ import annotations

from pathlib import Path

import pytest
import torch

from objectives import ObjectiveError, SplitSettings, load_classification_data, tokenize
from objectives.data._encoding import build_text_data
from objectives.data._text import PAD_ID, UNK_ID

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def test_digits_are_8_rows_of_8_features_with_disjoint_splits():
    data = load_classification_data("digits", split=SplitSettings(seed=3))
    assert data.train.inputs.shape[1:] == (8, 8)
    assert data.n_features == 8 and not data.is_text
    total = len(data.train) + len(data.validation) + len(data.test)
    assert total == 1797
    assert len(data.test) == pytest.approx(0.2 * 1797, abs=1)
    assert data.label_names == [str(i) for i in range(10)]
    assert float(data.train.inputs.max()) <= 1.0


def test_digits_split_depends_on_seed_only():
    a = load_classification_data("digits", split=SplitSettings(seed=1))
    b = load_classification_data("digits", split=SplitSettings(seed=1))
    c = load_classification_data("digits", split=SplitSettings(seed=2))
    assert torch.equal(a.validation.inputs, b.validation.inputs)
    assert not torch.equal(a.validation.inputs, c.validation.inputs)


def test_tokenize_drops_html_and_keeps_punctuation():
    assert tokenize("Great<br />movie, isn't it?") == ["great", "movie", ",", "isn't", "it", "?"]


def _texts():
    texts = ["good good fine", "bad awful", "good day", "bad bad night", "fine good"] * 8
    labels = ["pos", "neg", "pos", "neg", "pos"] * 8
    return texts, labels


def test_vocabulary_is_ranked_by_training_frequency_and_min_freq_maps_rare_to_unk():
    texts, labels = _texts()
    data = build_text_data(texts, labels, source="toy")
    assert data.vocabulary[:2] == ["<pad>", "<unk>"]
    counts = data.token_counts[2:]
    assert counts == sorted(counts, reverse=True)
    rare_size = data.vocabulary_size(min_freq=10**6)
    assert rare_size == 2
    view = data.view(data.train, min_freq=10**6)
    assert set(view.inputs.unique().tolist()) <= {PAD_ID, UNK_ID}
    # The original tensors are untouched by a trial's view.
    assert int(data.train.inputs.max()) > UNK_ID


def test_max_length_view_cuts_tokens_and_lengths():
    data = build_text_data(["a b c d e f g", "a b", "x y z"] * 6, ["1", "0", "1"] * 6)
    view = data.view(data.train, max_length=3)
    assert view.inputs.shape[1] == 3
    assert int(view.lengths.max()) == 3


def test_csv_with_named_columns_and_held_back_test_file(tmp_path):
    train = tmp_path / "reviews.csv"
    test = tmp_path / "test.csv"
    rows = "\n".join(f'"{t}",{label}' for t, label in zip(*_texts(), strict=True))
    train.write_text("review,sentiment\n" + rows + "\n")
    test.write_text('review,sentiment\n"good good",pos\n"awful",neg\n')
    data = load_classification_data(
        str(train), text_column="review", label_column="sentiment", test_data=str(test)
    )
    assert data.label_names == ["neg", "pos"]
    assert len(data.test) == 2
    assert len(data.train) + len(data.validation) == 40


def test_missing_column_names_the_column_and_the_available_ones(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,label\nnice,1\nbad,0\n")
    with pytest.raises(
        ObjectiveError, match=r"column 'text' is not in .*available columns: review, label"
    ):
        load_classification_data(str(path))


def test_one_class_and_empty_datasets_are_rejected(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,x\nb,x\nc,x\n")
    with pytest.raises(ObjectiveError, match="only one class"):
        load_classification_data(str(one))
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    with pytest.raises(ObjectiveError, match="has no rows"):
        load_classification_data(str(empty))


def test_unknown_data_names_what_is_accepted():
    with pytest.raises(ObjectiveError, match="accepted: digits, a CSV/TSV path, or hf:NAME"):
        load_classification_data("no-such-file.csv")


@pytest.mark.skipif(not (SHARED / "sms_spam").is_dir(), reason="../shared/datasets/sms_spam absent")
def test_headerless_sms_spam_file_reads_by_column_number():
    data = load_classification_data(
        str(SHARED / "sms_spam" / "SMSSpamCollection"), text_column="1", label_column="0"
    )
    assert data.label_names == ["ham", "spam"]
    assert len(data.train) + len(data.validation) + len(data.test) == 5574


def test_hugging_face_data_uses_its_train_split_and_holds_back_test(monkeypatch):
    datasets = pytest.importorskip("datasets")
    texts, labels = _texts()
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    ids = [1 if label == "pos" else 0 for label in labels]
    loaded = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": texts, "label": ids}, features=features),
            "test": datasets.Dataset.from_dict(
                {"text": ["good", "awful"], "label": [1, 0]}, features=features
            ),
        }
    )
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name: asked.append(name) or loaded)
    data = load_classification_data("hf:toy_reviews")
    assert asked == ["toy_reviews"]
    assert data.label_names == ["neg", "pos"]  # class names, not ids
    assert len(data.test) == 2 and len(data.train) + len(data.validation) == 40
    with pytest.raises(
        ObjectiveError,
        match="column 'review' is not in Hugging Face dataset 'toy_reviews'; available columns: text, label",
    ):
        load_classification_data("hf:toy_reviews", text_column="review")


def test_new_texts_are_encoded_like_the_training_data():
    from objectives import encode_texts

    info = {"vocabulary": ["<pad>", "<unk>", "good", "bad"], "max_length": 3}
    ids, lengths = encode_texts(["Good good bad movie!", "", "bad"], info)
    assert ids.tolist() == [[2, 2, 3], [UNK_ID, PAD_ID, PAD_ID], [3, PAD_ID, PAD_ID]]
    assert lengths.tolist() == [3, 1, 1]
