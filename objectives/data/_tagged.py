"""Token-tagging data (NER, POS), read and tensorized once per worker process.

Words are embedded lower-cased (their vocabulary ranked by training frequency, so a trial's
``min_freq`` is a cheap view as for classification); characters keep their case, which is
what the optional character encoder learns from. Tags of padding steps are
:data:`~objectives.data._text.IGNORE_INDEX`, so the loss and the metrics skip them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from objectives.data._cache import cached_data, split_files
from objectives.data._readers import TaggedCorpus, detect_iob_scheme, read_tagged_file
from objectives.data._splits import DEFAULT_SPLIT, SplitSettings
from objectives.data._tagged_hf import load_tagged_hf
from objectives.data._text import (
    IGNORE_INDEX,
    PAD_ID,
    PAD_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    ClassificationData,
    SequenceSplit,
)
from objectives.errors import ObjectiveError, empty_validation

TaggingKind = Literal["ner", "pos"]

MAX_WORD_LENGTH = 20
"""Characters kept per word for the character encoder (longer words keep their first 20)."""

_TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_HF_TAG_COLUMNS = {"ner": "ner_tags", "pos": "pos_tags"}


@dataclass
class TaggingData(ClassificationData):
    """A token-tagging dataset: :class:`ClassificationData` whose labels are ``[N, T]`` tags.

    Attributes:
        characters: Character vocabulary (ids 0 and 1 are pad and unknown).
        scheme: ``IOB1`` or ``IOB2`` for NER data; ``None`` for POS tags.
    """

    characters: list[str] | None = None
    scheme: str | None = None

    def preprocessing(self) -> dict[str, Any]:
        """What a saved tagger needs to read new sentences."""
        return {
            **super().preprocessing(),
            "characters": list(self.characters or []),
            "scheme": self.scheme,
            "max_word_length": MAX_WORD_LENGTH,
        }


def encode_sentences(
    sentences: list[list[str]],
    token_to_id: dict[str, int],
    char_to_id: dict[str, int],
    width: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids ``[N, T]``, lengths ``[N]`` and character ids ``[N, T, C]`` (int16).

    Args:
        sentences: Tokens per sentence (original case).
        token_to_id: Lower-cased word vocabulary.
        char_to_id: Character vocabulary.
        width: ``T``; longer sentences are cut.
    """
    ids = torch.full((len(sentences), width), PAD_ID, dtype=torch.long)
    chars = torch.zeros((len(sentences), width, MAX_WORD_LENGTH), dtype=torch.int16)
    lengths = torch.ones(len(sentences), dtype=torch.long)
    for row, tokens in enumerate(sentences):
        kept = tokens[:width] or [UNK_TOKEN]
        ids[row, : len(kept)] = torch.tensor([token_to_id.get(t.lower(), UNK_ID) for t in kept])
        lengths[row] = len(kept)
        for column, token in enumerate(kept):
            codes = [char_to_id.get(c, UNK_ID) for c in token[:MAX_WORD_LENGTH]]
            chars[row, column, : len(codes)] = torch.tensor(codes, dtype=torch.int16)
    return ids, lengths, chars


def build_tagging_data(
    train: TaggedCorpus,
    test: TaggedCorpus | None,
    *,
    kind: TaggingKind,
    validation: TaggedCorpus | None = None,
    split: SplitSettings = DEFAULT_SPLIT,
    max_length: int = 400,
) -> TaggingData:
    """Split, build vocabularies on the training split, and tensorize a tagged corpus.

    Args:
        train: Training sentences (validation is split off these unless it is given).
        test: Held-back sentences; when ``None``, ``test_fraction`` of ``train`` is held back.
        kind: ``ner`` (tags must be IOB; the scheme is detected) or ``pos``.
        validation: Sentences the trials are scored on (a corpus's development file); when
            ``None``, ``validation_fraction`` of the training sentences is split off for it.
        split: Seed and fractions of the train / validation / test split.
        max_length: Longest sentence stored (longer ones are cut).

    Raises:
        ObjectiveError: NER tags that are not IOB, fewer than 2 training tags, or an empty
            validation corpus.
    """
    if validation is not None and len(validation) == 0:
        raise empty_validation(validation.source, "sentences")
    held_out = [corpus for corpus in (test, validation) if corpus is not None]
    scheme = None
    if kind == "ner":
        scheme = detect_iob_scheme(train.tags + [tags for c in held_out for tags in c.tags])
    generator = np.random.default_rng(split.seed)
    order = generator.permutation(len(train))
    if test is None:
        n_test = max(1, int(round(split.test_fraction * len(train))))
        test = TaggedCorpus(
            [train.sentences[i] for i in order[:n_test]],
            [train.tags[i] for i in order[:n_test]],
            train.source,
        )
        order = order[n_test:]
    if validation is None:
        n_validation = max(1, int(round(split.validation_fraction * len(order))))
        validation_rows, train_rows = np.sort(order[:n_validation]), np.sort(order[n_validation:])
        validation = TaggedCorpus(
            [train.sentences[i] for i in validation_rows],
            [train.tags[i] for i in validation_rows],
            train.source,
        )
    else:  # every training sentence trains: the trials are scored on the given ones
        train_rows = np.sort(order)
    if len(train_rows) == 0:
        raise ObjectiveError(f"{train.source}: too few sentences ({len(train)}) to split")

    # Tags seen only in the test or validation data still get an id (and a row in the
    # head): the model cannot learn them, but scoring must count those gold entities as
    # missed.
    tag_names = sorted(set(train.tag_names()) | set(test.tag_names()) | set(validation.tag_names()))
    if len(train.tag_names()) < 2:
        raise ObjectiveError(
            f"{train.source}: only one tag ({train.tag_names()[0]!r}); tagging needs at least 2"
        )
    tag_to_id = {tag: i for i, tag in enumerate(tag_names)}

    counts = Counter(t.lower() for row in train_rows for t in train.sentences[row])
    ranked = [token for token, _ in counts.most_common()]
    vocabulary = [PAD_TOKEN, UNK_TOKEN, *ranked]
    token_to_id = {token: i for i, token in enumerate(vocabulary)}
    char_counts = Counter(c for row in train_rows for t in train.sentences[row] for c in t)
    characters = [PAD_TOKEN, UNK_TOKEN, *(c for c, _ in char_counts.most_common())]
    char_to_id = {c: i for i, c in enumerate(characters)}

    longest = max(len(s) for s in train.sentences + test.sentences + validation.sentences)
    # One width for every split, so folds can mix train and validation rows.
    width = max(1, min(max_length, longest))

    def tensorize(sentences: list[list[str]], tags: list[list[str]]) -> SequenceSplit:
        ids, lengths, chars = encode_sentences(sentences, token_to_id, char_to_id, width)
        labels = torch.full((len(sentences), width), IGNORE_INDEX, dtype=torch.long)
        for row, row_tags in enumerate(tags):
            kept = row_tags[:width]
            labels[row, : len(kept)] = torch.tensor([tag_to_id[t] for t in kept])
        return SequenceSplit(ids, lengths, labels, chars)

    return TaggingData(
        train=tensorize(
            [train.sentences[i] for i in train_rows], [train.tags[i] for i in train_rows]
        ),
        validation=tensorize(validation.sentences, validation.tags),
        test=tensorize(test.sentences, test.tags),
        label_names=tag_names,
        vocabulary=vocabulary,
        token_counts=[0, 0, *(counts[token] for token in ranked)],
        source=train.source,
        characters=characters,
        scheme=scheme,
    )


def _read(data: str, split: str, kind: TaggingKind, tag_column: str | int | None) -> TaggedCorpus:
    if data.startswith("hf:"):
        name, _, config = data.removeprefix("hf:").partition("/")
        column = str(tag_column) if tag_column is not None else _HF_TAG_COLUMNS[kind]
        return load_tagged_hf(name, split, column, config=config or None)
    path = Path(data).expanduser()
    if path.name.lower().endswith(_TABLE_SUFFIXES):
        raise ObjectiveError(
            f"task {kind!r} needs a tagged corpus (CoNLL-U, 'token TAG' IOB, CoNLL-2003, or "
            f"hf:NAME with tokens/{_HF_TAG_COLUMNS[kind]}), but {data!r} is a classification "
            "table; use --task classification (or tabular) for it"
        )
    if not path.exists():
        raise ObjectiveError(
            f"data {data!r} is neither a file nor hf:NAME; task {kind!r} accepts a .conllu, "
            "'token TAG', CoNLL-2003 file or hf:NAME"
        )
    column_number = int(tag_column) if tag_column is not None else None
    return read_tagged_file(path, tag_column=column_number)


def load_tagging_data(
    data: str,
    *,
    kind: TaggingKind,
    test_data: str | None = None,
    validation_data: str | None = None,
    tag_column: str | int | None = None,
    split: SplitSettings = DEFAULT_SPLIT,
    max_length: int = 400,
) -> TaggingData:
    """Load a tagging study's data: a CoNLL-U / ``token TAG`` / CoNLL-2003 file or ``hf:NAME``.

    Args:
        data: Training file, or ``hf:NAME[/CONFIG]`` (its ``train`` split, ``test`` held back).
        kind: ``ner`` or ``pos``.
        test_data: Held-back file (optional; for ``hf:`` the hub's ``test`` split is used).
        validation_data: File the trials are scored on instead of ``validation_fraction``
            of the training sentences (optional; ``hf:NAME`` reads the hub's ``validation``
            split, which is never used unless named here).
        tag_column: 0-based tag column of a file (CoNLL-2003 POS is 1), or the HF column;
            by default the reader's (NER column, CoNLL-U UPOS) or ``ner_tags``/``pos_tags``.
        split: Seed and fractions of the train / validation / test split.
        max_length: Longest sentence stored.

    Raises:
        ObjectiveError: A malformed file (with its line), a classification table, or see
            :func:`build_tagging_data`.
    """
    if kind not in ("ner", "pos"):
        raise ObjectiveError(f"tagging kind {kind!r} is not accepted; accepted: ner, pos")
    if tag_column is not None and not data.startswith("hf:") and not str(tag_column).isdigit():
        raise ObjectiveError(
            f"tag_column of a file must be a column number from 0, but got {tag_column!r}"
        )

    def build() -> TaggingData:
        train = _read(data, "train", kind, tag_column)
        test = None
        if test_data is not None:
            test = _read(test_data, "test", kind, tag_column)
        elif data.startswith("hf:"):
            test = _read(data, "test", kind, tag_column)
        validation = None
        if validation_data is not None:
            validation = _read(validation_data, "validation", kind, tag_column)
        return build_tagging_data(
            train, test, kind=kind, validation=validation, split=split, max_length=max_length
        )

    if any(
        name is not None and name.startswith("hf:") for name in (data, test_data, validation_data)
    ):
        return build()  # the hub caches its own downloads
    settings = {
        "source": data,
        "kind": kind,
        "tag_column": tag_column,
        "max_length": max_length,
        **dataclasses.asdict(split),
    }
    files, named = split_files(data, test_data, validation_data)
    return cached_data(TaggingData, files, {**settings, **named}, build)
