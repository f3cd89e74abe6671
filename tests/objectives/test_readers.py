"""Tests for objectives.data._readers on the real corpora and on hand-written broken files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from objectives.data._readers import (
    TaggedCorpus,
    detect_iob_scheme,
    read_conll2003_file,
    read_conllu_file,
    read_tagged_file,
    read_token_tag_file,
)
from objectives.data._tagged_hf import load_tagged_hf, tagged_corpus_from_hf
from objectives.errors import ObjectiveError

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real corpora not found at {DATASETS}"
)

UPOS = {
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
}  # fmt: skip

CONLLU_SENTENCE = (
    "# sent_id = 1\n"
    "# text = I don't know\n"
    "1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t3:nsubj\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t4:aux\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t4:advmod\t_\n"
    "3.1\tgone\t_\t_\t_\t_\t_\t_\t0:root\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t0:root\t_\n"
)


def write(path: Path, text: str, *, compress: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --- real corpora -------------------------------------------------------------------


@needs_datasets
def test_ud_ewt_dev_has_documented_sentences_and_only_syntactic_words() -> None:
    path = DATASETS / "ud_english_ewt" / "en_ewt-ud-dev.conllu.gz"
    corpus = read_tagged_file(path)

    assert len(corpus) == 2001
    assert set(corpus.tag_names()) == UPOS
    # "don't" is a multiword range in EWT; only its words "do" and "n't" may appear.
    assert not any(token == "don't" for sentence in corpus.sentences for token in sentence)
    assert corpus.n_tokens == 25147
    with pytest.raises(ObjectiveError, match="'ADP' .* is not IOB"):
        detect_iob_scheme(corpus.tags)


@needs_datasets
def test_ner_uk_v2_test_is_iob2_with_13_entity_types() -> None:
    corpus = read_tagged_file(DATASETS / "ner_uk" / "ner-uk-v2.0.test.iob.gz")

    assert len(corpus) == 5087
    assert detect_iob_scheme(corpus.tags) == "IOB2"
    entity_types = {tag[2:] for tag in corpus.tag_names() if tag != "O"}
    assert len(entity_types) == 13
    assert corpus.tags[0][-3:] == ["O", "B-LOC", "O"]


@needs_datasets
def test_conll2003_testa_is_iob1_without_docstart() -> None:
    corpus = read_tagged_file(DATASETS / "conll2003_en" / "eng.testa.gz")

    assert len(corpus) == 3250
    assert all("-DOCSTART-" not in tokens for tokens in corpus.sentences)
    assert detect_iob_scheme(corpus.tags) == "IOB1"
    assert corpus.sentences[0][:3] == ["CRICKET", "-", "LEICESTERSHIRE"]
    assert corpus.tags[0][:3] == ["O", "O", "I-ORG"]


@needs_datasets
def test_conll2003_tag_column_override_returns_pos_tags() -> None:
    corpus = read_tagged_file(DATASETS / "conll2003_en" / "eng.testa.gz", tag_column=1)

    assert corpus.tags[0][:3] == ["NNP", ":", "NNP"]


# --- CoNLL-U --------------------------------------------------------------------------


def test_conllu_skips_multiword_and_empty_nodes(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.conllu.gz", CONLLU_SENTENCE + "\n", compress=True)

    corpus = read_conllu_file(path)

    assert corpus.sentences == [["I", "do", "n't", "know"]]
    assert corpus.tags == [["PRON", "AUX", "PART", "VERB"]]
    assert read_tagged_file(path, tag_column=4).tags == [["PRP", "VBP", "RB", "VB"]]


def test_conllu_content_is_recognised_without_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.txt", CONLLU_SENTENCE)

    assert read_tagged_file(path).tags == [["PRON", "AUX", "PART", "VERB"]]


def test_conllu_bad_column_count_names_path_and_line(tmp_path: Path) -> None:
    text = CONLLU_SENTENCE.replace("2\tdo\tdo\tAUX\tVBP\t_\t4", "2\tdo\tdo\tAUX VBP\t_\t4")
    path = write(tmp_path / "bad.conllu", text)

    with pytest.raises(ObjectiveError, match=r"bad\.conllu:5: expected 10 tab-separated"):
        read_conllu_file(path)


def test_conllu_word_without_upos_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.conllu", CONLLU_SENTENCE.replace("\tAUX\t", "\t_\t"))

    with pytest.raises(ObjectiveError, match=r":5: word 'do' has no UPOS"):
        read_tagged_file(path)


def test_conllu_tag_column_outside_upos_xpos_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.conllu", CONLLU_SENTENCE)

    with pytest.raises(ObjectiveError, match="tag_column=7"):
        read_tagged_file(path, tag_column=7)


# --- token TAG ------------------------------------------------------------------------


def test_token_tag_file_handles_bom_crlf_trailing_blanks_and_blank_runs(tmp_path: Path) -> None:
    text = "\ufeffКиїв B-LOC \r\nстолиця O\r\n\r\n\r\n\r\nТарас B-PERS\r\nШевченко I-PERS\t\r\n"
    path = write(tmp_path / "uk.iob.gz", text, compress=True)

    corpus = read_token_tag_file(path)

    assert corpus.sentences == [["Київ", "столиця"], ["Тарас", "Шевченко"]]
    assert corpus.tags == [["B-LOC", "O"], ["B-PERS", "I-PERS"]]
    assert read_tagged_file(path).tags == corpus.tags


def test_token_tag_file_with_three_columns_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.iob", "Київ B-LOC\nстолиця\n\nТарас B-PERS I-PERS\n")

    with pytest.raises(ObjectiveError, match=r"bad\.iob:2: expected 2 whitespace-separated"):
        read_token_tag_file(path)


def test_token_tag_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.iob"
    path.write_bytes("Київ B-LOC\n".encode() + "café O\n".encode("latin-1"))

    with pytest.raises(ObjectiveError, match=r"latin1\.iob:2: .*not UTF-8"):
        read_token_tag_file(path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.iob", "\n\n")

    with pytest.raises(ObjectiveError, match="no sentences"):
        read_tagged_file(path)
    with pytest.raises(ObjectiveError, match="no sentences"):
        read_token_tag_file(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ObjectiveError, match="does not exist"):
        read_tagged_file(tmp_path / "nope.iob")


# --- CoNLL-2003 -----------------------------------------------------------------------


def test_conll2003_skips_docstart_and_splits_sentences(tmp_path: Path) -> None:
    text = (
        "-DOCSTART- -X- O O\n\n"
        "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
        "Peter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n"
    )
    path = write(tmp_path / "eng.tiny", text)

    corpus = read_conll2003_file(path)

    assert corpus.sentences == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert corpus.tags == [["I-ORG", "O"], ["I-PER", "I-PER"]]


def test_conll2003_bad_column_count_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "eng.bad", "EU NNP I-NP I-ORG\nrejects VBZ O\n")

    with pytest.raises(ObjectiveError, match=r"eng\.bad:2: expected 4 whitespace-separated"):
        read_conll2003_file(path)
    with pytest.raises(ObjectiveError, match=r"eng\.bad:2: expected 4"):
        read_tagged_file(path)


def test_unknown_column_count_lists_accepted_layouts(tmp_path: Path) -> None:
    path = write(tmp_path / "three.txt", "# comment\n\nEU NNP I-ORG\n")

    with pytest.raises(ObjectiveError, match=r"three\.txt:3: .*3 columns; accepted"):
        read_tagged_file(path)


def test_tag_column_outside_the_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "eng.tiny", "EU NNP I-NP I-ORG\n")

    with pytest.raises(ObjectiveError, match="tag_column=4"):
        read_tagged_file(path, tag_column=4)


# --- Hugging Face rows ----------------------------------------------------------------


def test_hf_rows_map_tag_ids_through_class_label_names() -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(
                datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG"])
            ),
        }
    )
    split = datasets.Dataset.from_dict(
        {"tokens": [["EU", "rejects"], ["Peter", "Blackburn"]], "ner_tags": [[3, 0], [1, 2]]},
        features=features,
    )

    corpus = tagged_corpus_from_hf(split, "ner_tags")

    assert corpus.sentences == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert corpus.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    with pytest.raises(ObjectiveError, match="no column 'pos_tags'.*tokens, ner_tags"):
        tagged_corpus_from_hf(split, "pos_tags")


def test_load_tagged_hf_loads_the_named_split(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    rows = datasets.Dataset.from_dict({"tokens": [["Hi", "Bob"]], "pos_tags": [["INTJ", "PROPN"]]})
    calls = []

    def fake_load_dataset(name: str, config: str | None, *, split: str) -> object:
        calls.append((name, config, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)

    corpus = load_tagged_hf("universal_dependencies", "validation", "pos_tags", config="en_ewt")

    assert calls == [("universal_dependencies", "en_ewt", "validation")]
    assert corpus.tags == [["INTJ", "PROPN"]]
    assert corpus.source == "hf:universal_dependencies/en_ewt[validation]"


def test_hf_integer_tags_without_names_are_rejected() -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_dict({"tokens": [["a", "b"]], "pos_tags": [[1, 2]]})

    with pytest.raises(ObjectiveError, match="no ClassLabel names"):
        tagged_corpus_from_hf(split, "pos_tags")


# --- IOB scheme -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "scheme"),
    [
        ([["B-PER", "I-PER", "O", "B-LOC"]], "IOB2"),
        ([["O", "O"]], "IOB2"),
        ([["I-PER", "I-PER", "B-PER"]], "IOB1"),
        ([["O", "B-PER"], ["B-LOC", "I-ORG"]], "IOB1"),
        ([["O", "I-LOC"]], "IOB1"),
    ],
)
def test_detect_iob_scheme(tags: list[list[str]], scheme: str) -> None:
    assert detect_iob_scheme(tags) == scheme


def test_detect_iob_scheme_rejects_iobes_tags() -> None:
    with pytest.raises(ObjectiveError, match="'S-PER'.*sentence 0, token 1"):
        detect_iob_scheme([["O", "S-PER"]])


def test_corpus_rejects_misaligned_tags() -> None:
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        TaggedCorpus([["a", "b"]], [["O"]], "memory")
