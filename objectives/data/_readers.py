"""Readers for token-tagging files: CoNLL-U, ``token TAG`` IOB files, CoNLL-2003.

Every reader returns a :class:`TaggedCorpus`. Problems a user can fix in the file (a line
with the wrong number of columns, bytes that are not UTF-8, a file with no sentences)
raise :class:`~objectives.errors.ObjectiveError` naming the path and the 1-based line.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from objectives.errors import ObjectiveError, damaged_gzip, damaged_gzip_errors, missing_file

IobScheme = Literal["IOB1", "IOB2"]

_GZIP_MAGIC = b"\x1f\x8b"
_CONLLU_N_COLUMNS = 10
_CONLLU_TAG_FIELDS: dict[int, Literal["upos", "xpos"]] = {3: "upos", 4: "xpos"}
_DOCSTART = "-DOCSTART-"
_IOB_TAG = re.compile(r"(?:O|[BI]-.+)\Z")


@dataclass
class TaggedCorpus:
    """Sentences of tokens with one tag per token.

    Attributes:
        sentences: One list of tokens per sentence.
        tags: One list of tag names per sentence, aligned with ``sentences``.
        source: Where the corpus came from (a path or ``hf:<name>``), for messages.
    """

    sentences: list[list[str]]
    tags: list[list[str]]
    source: str

    def __post_init__(self) -> None:
        if len(self.sentences) != len(self.tags):
            raise ValueError(
                f"{len(self.sentences)} sentences but {len(self.tags)} tag sequences "
                f"in {self.source}."
            )
        for index, (tokens, tags) in enumerate(zip(self.sentences, self.tags, strict=True)):
            if len(tokens) != len(tags):
                raise ValueError(
                    f"sentence {index} of {self.source} has {len(tokens)} tokens "
                    f"but {len(tags)} tags."
                )

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def n_tokens(self) -> int:
        """Number of tokens over all sentences."""
        return sum(len(tokens) for tokens in self.sentences)

    def tag_names(self) -> list[str]:
        """Sorted distinct tag names, a stable order for tag ids."""
        return sorted({tag for tags in self.tags for tag in tags})


def _iter_lines(path: Path) -> Generator[tuple[int, str], None, None]:
    """Yield ``(line_number, line)`` with line endings, trailing blanks and a BOM removed.

    Decoding line by line (rather than through a text wrapper) is what lets a bad byte be
    reported with its line number.
    """
    if not path.is_file():
        raise missing_file(path, "tagged corpus file")
    with path.open("rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as raw:
            for line_number, raw_line in enumerate(raw, start=1):
                try:
                    line = raw_line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ObjectiveError(
                        f"{path}:{line_number}: bytes at column {error.start + 1} are not "
                        "UTF-8; re-encode the file as UTF-8."
                    ) from None
                if line_number == 1:
                    line = line.removeprefix("\ufeff")
                yield line_number, line.rstrip()
    except damaged_gzip_errors() as error:
        raise damaged_gzip(path, error) from None


def _first_data_line(path: Path) -> tuple[int, str] | None:
    with closing(_iter_lines(path)) as lines:
        for line_number, line in lines:
            if line and not line.startswith("#"):
                return line_number, line
    return None


def read_conllu_file(
    path: str | Path, *, tag_field: Literal["upos", "xpos"] = "upos"
) -> TaggedCorpus:
    """Read a CoNLL-U file (plain or gzip) into word forms and UPOS (or XPOS) tags.

    Comment lines (``#``), multiword-token ranges (``1-2``) and empty nodes (``1.1``) are
    skipped, so every returned token is a syntactic word with its own tag.

    Args:
        path: The ``.conllu`` or ``.conllu.gz`` file.
        tag_field: Which tag column to return: ``"upos"`` (column 4) or ``"xpos"`` (column 5).

    Returns:
        The corpus, one entry per sentence.

    Raises:
        ObjectiveError: A line without 10 tab-separated columns, a word with ``_`` as its
            tag, an unparsable ID, or a file with no sentences; the message names the line.
    """
    import conllu
    from conllu.exceptions import ParseException

    if tag_field not in ("upos", "xpos"):
        raise ObjectiveError(f"tag_field must be 'upos' or 'xpos', but got {tag_field!r}.")
    path = Path(path)
    tag_index = 3 if tag_field == "upos" else 4
    # Only ID, FORM and the tag are used; parsing FEATS/DEPS into dicts costs time and
    # would reject files whose dependency columns are unusual but irrelevant here.
    keep_text = {
        name: (lambda fields, index: fields[index])
        for name in ("lemma", "feats", "head", "deprel", "deps", "misc")
    }

    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    block: list[str] = []
    block_start = 0

    def flush() -> None:
        if not any(not line.startswith("#") for line in block):
            return
        try:
            token_list = conllu.parse_token_and_metadata("\n".join(block), field_parsers=keep_text)
        except ParseException as error:
            raise ObjectiveError(
                f"{path}:{block_start}: sentence starting here is not valid CoNLL-U ({error})."
            ) from None
        words = [token for token in token_list if isinstance(token["id"], int)]
        sentences.append([str(token["form"]) for token in words])
        tags.append([str(token[tag_field]) for token in words])

    for line_number, line in _iter_lines(path):
        if not line:
            flush()
            block = []
            continue
        if not block:
            block_start = line_number
        if not line.startswith("#"):
            fields = line.split("\t")
            if len(fields) != _CONLLU_N_COLUMNS:
                raise ObjectiveError(
                    f"{path}:{line_number}: expected 10 tab-separated CoNLL-U columns, "
                    f"got {len(fields)}: {line[:60]!r}."
                )
            is_word = fields[0].isdigit()
            if is_word and fields[tag_index] == "_":
                raise ObjectiveError(
                    f"{path}:{line_number}: word {fields[1]!r} has no {tag_field.upper()} "
                    "tag ('_'); every word needs one for tagging."
                )
        block.append(line)
    flush()
    return non_empty(TaggedCorpus(sentences, tags, str(path)))


def read_token_tag_file(path: str | Path) -> TaggedCorpus:
    """Read a two-column ``token TAG`` file (as NER-UK ships), plain or gzip.

    Columns are separated by any whitespace; a blank line (or several) ends a sentence.
    UTF-8 with or without a BOM, LF or CRLF line endings and trailing blanks are accepted.

    Args:
        path: The file to read.

    Returns:
        The corpus, one entry per sentence.

    Raises:
        ObjectiveError: A line that does not have exactly 2 columns, or a file with no
            sentences; the message names the line.
    """
    return _read_whitespace_columns(Path(path), n_columns=2, tag_column=1, layout="token TAG")


def read_conll2003_file(path: str | Path, *, tag_column: int = 3) -> TaggedCorpus:
    """Read a four-column CoNLL-2003 ``token POS chunk NER`` file, plain or gzip.

    ``-DOCSTART-`` lines are dropped and a blank line ends a sentence. The NER column of
    the original release uses IOB1 (see :func:`detect_iob_scheme`).

    Args:
        path: The file to read.
        tag_column: 0-based column holding the tag: 1 POS, 2 chunk, 3 NER (the default).

    Returns:
        The corpus, one entry per sentence.

    Raises:
        ObjectiveError: A line that does not have exactly 4 columns, or a file with no
            sentences; the message names the line.
    """
    return _read_whitespace_columns(
        Path(path), n_columns=4, tag_column=tag_column, layout="token POS chunk NER"
    )


def _read_whitespace_columns(
    path: Path, *, n_columns: int, tag_column: int, layout: str
) -> TaggedCorpus:
    if not 1 <= tag_column < n_columns:
        raise ObjectiveError(
            f"tag column must be between 1 and {n_columns - 1} for a {n_columns}-column "
            f"file ({layout}), but got {tag_column=}."
        )
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    tokens: list[str] = []
    sentence_tags: list[str] = []
    for line_number, line in _iter_lines(path):
        if not line:
            if tokens:
                sentences.append(tokens)
                tags.append(sentence_tags)
                tokens, sentence_tags = [], []
            continue
        fields = line.split()
        if fields[0] == _DOCSTART:
            continue
        if len(fields) != n_columns:
            raise ObjectiveError(
                f"{path}:{line_number}: expected {n_columns} whitespace-separated columns "
                f"'{layout}', got {len(fields)}: {line[:60]!r}."
            )
        tokens.append(fields[0])
        sentence_tags.append(fields[tag_column])
    if tokens:
        sentences.append(tokens)
        tags.append(sentence_tags)
    return non_empty(TaggedCorpus(sentences, tags, str(path)))


def read_tagged_file(path: str | Path, *, tag_column: int | None = None) -> TaggedCorpus:
    """Read a tagged corpus, choosing the format from the name or the first data line.

    ``.conllu`` / ``.conllu.gz`` is read as CoNLL-U. Any other file is read by the number of
    whitespace-separated columns on its first non-blank, non-comment line: 2 columns is a
    ``token TAG`` file, 4 columns is CoNLL-2003 (tag from the last column).

    Args:
        path: The file to read (plain or gzip).
        tag_column: 0-based column to take tags from instead of the default. For CoNLL-U,
            3 (UPOS, the default) or 4 (XPOS); for 4-column files 1 (POS), 2 (chunk) or 3
            (NER, the default); for 2-column files only 1.

    Returns:
        The corpus, one entry per sentence.

    Raises:
        ObjectiveError: An unknown layout, a bad ``tag_column``, or a malformed line.
    """
    path = Path(path)
    named_conllu = path.name.endswith((".conllu", ".conllu.gz"))
    first = None if named_conllu else _first_data_line(path)
    # A CoNLL-U file under another name still shows itself by 10 tab-separated columns.
    if named_conllu or (first is not None and len(first[1].split("\t")) == _CONLLU_N_COLUMNS):
        if tag_column is None:
            return read_conllu_file(path)
        if tag_column not in _CONLLU_TAG_FIELDS:
            raise ObjectiveError(
                f"tag column for a CoNLL-U file must be 3 (UPOS) or 4 (XPOS), but got "
                f"{tag_column=}."
            )
        return read_conllu_file(path, tag_field=_CONLLU_TAG_FIELDS[tag_column])
    if first is None:
        raise ObjectiveError(f"{path}: no sentences found (the file is empty or only comments).")
    line_number, line = first
    n_columns = len(line.split())
    if n_columns == 2:
        return _read_whitespace_columns(
            path,
            n_columns=2,
            tag_column=1 if tag_column is None else tag_column,
            layout="token TAG",
        )
    if n_columns == 4:
        return read_conll2003_file(path, tag_column=3 if tag_column is None else tag_column)
    raise ObjectiveError(
        f"{path}:{line_number}: cannot tell the format from a line with {n_columns} columns; "
        "accepted: .conllu[.gz] files, 2 columns 'token TAG' or 4 columns 'token POS chunk NER'."
    )


def detect_iob_scheme(tags: Sequence[Sequence[str]]) -> IobScheme:
    """Tell IOB1 from IOB2 tagging.

    In IOB2 every entity starts with ``B-``. In IOB1 (CoNLL-2003) an entity starts with
    ``I-`` and ``B-`` only separates two adjacent entities of the same type, so an ``I-X``
    at a sentence start, after ``O`` or after a tag of another type means IOB1.

    Args:
        tags: One list of tags per sentence.

    Returns:
        ``"IOB1"`` if any entity starts with ``I-``, otherwise ``"IOB2"`` (the two read
        the same when no entity starts with ``I-``).

    Raises:
        ObjectiveError: A tag that is not ``O``, ``B-TYPE`` or ``I-TYPE`` (for example a
            POS tag, or ``E-``/``S-`` tags of IOBES).
    """
    scheme: IobScheme = "IOB2"
    for sentence_index, sentence in enumerate(tags):
        previous = "O"
        for token_index, tag in enumerate(sentence):
            if not _IOB_TAG.match(tag):
                raise ObjectiveError(
                    f"tag {tag!r} (sentence {sentence_index}, token {token_index}) is not "
                    "IOB; accepted: 'O', 'B-TYPE', 'I-TYPE'."
                )
            if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
                scheme = "IOB1"
            previous = tag
    return scheme


def non_empty(corpus: TaggedCorpus) -> TaggedCorpus:
    if not corpus.sentences:
        raise ObjectiveError(f"{corpus.source}: no sentences found (the file is empty).")
    return corpus
