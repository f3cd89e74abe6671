"""Pretrained word vectors from a text file (GloVe, word2vec or fastText ``.vec``, gzip too).

Only the vectors of a task's vocabulary are kept, so a 400,000-word file costs memory for
the few thousand words a corpus has. A file is read once per process and vocabulary
(:func:`load_vectors` caches it); trials take rows of it. A checkpoint holds the trained
embedding in its ``state_dict``, so a saved model never needs the file again.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from objectives.data._text import PAD_ID
from objectives.errors import ObjectiveError, damaged_gzip, damaged_gzip_errors

_FIRST_WORD_ID = 2  # ids 0 and 1 are padding and unknown: never looked up


@dataclass(frozen=True)
class WordVectors:
    """The vectors a file has for one vocabulary.

    Attributes:
        path: The file read.
        dim: Width of every vector.
        vectors: ``[V, dim]`` float32, the row of vocabulary id ``i`` (zeros where the file
            has no vector for it).
        found: ``[V]`` whether the file had a vector for id ``i`` (exactly, or lower-cased).
        std: Standard deviation of the values of the vectors found, the scale unseen words
            are drawn at so they look like the rest.
    """

    path: str
    dim: int
    vectors: torch.Tensor
    found: torch.Tensor
    std: float

    def coverage(self, size: int, token_counts: Sequence[int] | None) -> dict[str, float]:
        """Share of a trial's vocabulary words the file has, and of all training tokens
        that start from a file's vector.

        Args:
            size: Embedding rows of a trial (its ``min_freq`` cut-off: rarer words read as
                unknown, so their tokens count as not covered).
            token_counts: Training count of each vocabulary id (ranked), when known.
        """
        found = self.found[_FIRST_WORD_ID:size]
        words = max(1, found.numel())
        result = {"vocabulary": round(float(found.sum()) / words, 4)}
        if token_counts is not None:
            counts = torch.as_tensor(list(token_counts[_FIRST_WORD_ID:]), dtype=torch.float64)
            total = float(counts.sum())
            covered = float(counts[: found.numel()][found].sum())
            result["tokens"] = round(covered / total, 4) if total else 0.0
        return result

    def embedding(self, size: int) -> torch.Tensor:
        """``[size, dim]`` initial embedding: the file's vectors, unseen words drawn from
        ``N(0, std)`` (torch's generator, so a trial's seed fixes them), padding zero."""
        rows = torch.randn(size, self.dim) * self.std
        found = self.found[:size]
        rows[found] = self.vectors[:size][found]
        rows[PAD_ID] = 0.0
        return rows


_CACHE: dict[tuple[str, int, int, int], WordVectors] = {}


def load_vectors(path: str | Path, vocabulary: Sequence[str]) -> WordVectors:
    """The vectors of ``vocabulary`` in the file at ``path``, read once per process.

    The cache is keyed by the file (path, size, modification time) and the vocabulary, so
    every trial of a worker shares one read.

    Raises:
        ObjectiveError: The file is missing or not a vectors file (one line naming why).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ObjectiveError(
            f"vectors file {str(path)!r} does not exist; give a GloVe, word2vec or fastText "
            "text file (.txt, .vec, optionally .gz)"
        )
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns, hash(tuple(vocabulary)))
    if key not in _CACHE:
        _CACHE[key] = read_vectors(file, vocabulary)
    return _CACHE[key]


def _bad(path: Path, line_number: int, why: str) -> ObjectiveError:
    return ObjectiveError(
        f"{path}:{line_number}: not a word-vectors file ({why}); expected 'word v1 v2 ...' "
        "lines (GloVe), optionally after a 'count dim' header (word2vec, fastText .vec)"
    )


def read_vectors(path: Path, vocabulary: Sequence[str]) -> WordVectors:
    """Read the vectors of ``vocabulary`` from a GloVe / word2vec / fastText text file.

    A first line of two whole numbers is a word2vec/fastText ``count dim`` header; else the
    first line's width sets the dimension. A word the file lacks exactly is matched ignoring
    case (the tokenizer's ``kyiv`` takes a cased file's ``Kyiv``); an exact match always
    wins. A word may contain
    spaces (GloVe 840B has some): the last ``dim`` fields are the vector.

    Raises:
        ObjectiveError: A line of another width or with a field that is not a number, or a
            file without vectors.
    """
    index = {word: i for i, word in enumerate(vocabulary) if i >= _FIRST_WORD_ID}
    lowered: dict[str, list[int]] = {}
    for word, i in index.items():
        lowered.setdefault(word.lower(), []).append(i)
    vectors: np.ndarray | None = None
    exact = np.zeros(len(vocabulary), dtype=bool)
    found = np.zeros(len(vocabulary), dtype=bool)
    dim = 0
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line_number, line in enumerate(handle, start=1):
                fields = line.rstrip("\n\r ").split(" ")
                if line_number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                    dim = int(fields[1])  # word2vec / fastText header: count dim
                    continue
                if fields == [""]:
                    continue
                if dim == 0:
                    dim = len(fields) - 1
                    if dim < 1:
                        raise _bad(path, line_number, "a word without a vector")
                if len(fields) < dim + 1:
                    raise _bad(path, line_number, f"{len(fields) - 1} values where {dim} were")
                word = " ".join(fields[:-dim])
                # An exact match always wins; else the first casing the file lists (files
                # rank words by frequency), e.g. "Paris" for a lower-cased "paris".
                ids = [index[word]] if word in index else []
                ids += [i for i in lowered.get(word.lower(), ()) if not found[i]]
                if not ids:
                    continue
                try:
                    values = np.asarray(fields[-dim:], dtype=np.float32)
                except ValueError:
                    raise _bad(path, line_number, "a value that is not a number") from None
                if vectors is None:
                    vectors = np.zeros((len(vocabulary), dim), dtype=np.float32)
                for i in ids:
                    if not exact[i]:
                        vectors[i] = values
                        found[i] = True
                        exact[i] = word == vocabulary[i]
    except damaged_gzip_errors() as exc:
        raise damaged_gzip(path, exc) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ObjectiveError(f"cannot read vectors file {str(path)!r}: {exc}") from None
    if dim == 0:
        raise ObjectiveError(f"vectors file {str(path)!r} has no vectors")
    if vectors is None:
        vectors = np.zeros((len(vocabulary), dim), dtype=np.float32)
    std = float(vectors[found].std()) if found.any() else 1.0
    return WordVectors(
        path=str(path),
        dim=dim,
        vectors=torch.from_numpy(vectors),
        found=torch.from_numpy(found),
        std=std or 1.0,
    )
