"""Pretrained word vectors as hyperparameters: whether a trial uses them, and frozen or not.

With ``[task] vectors`` set, the default space searches ``pretrained`` (use the file's
vectors or learn embeddings from scratch) and, when it is true, ``freeze_embeddings``; the
embedding width of a pretrained trial is the file's, so ``embedding_dim`` is searched only
for the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objectives.data import WordVectors
from objectives.errors import ObjectiveError
from objectives.tasks._base import TaskConfig
from objectives.tasks._derive import spec_values

VECTOR_PARAMETERS: dict[str, Any] = {"pretrained": False, "freeze_embeddings": False}
"""Use the task's pretrained vectors, and keep them fixed while training."""


def vector_space(config: TaskConfig, space: Mapping[str, Any]) -> dict[str, Any]:
    """``space`` with the pretrained-vector dimensions when ``config`` names a file."""
    if config.vectors is None:
        return dict(space)
    fitted: dict[str, Any] = {
        "pretrained": {"type": "categorical", "choices": [False, True]},
        "freeze_embeddings": {
            "type": "categorical",
            "choices": [False, True],
            "when": {"pretrained": [True]},
        },
    }
    for name, spec in space.items():
        if name == "embedding_dim" and isinstance(spec, Mapping):
            # A file's vectors have their own width: searched only for trials without them.
            spec = {**spec, "when": {"pretrained": [False]}}
        fitted[name] = spec
    return fitted


def check_vectors_named(space: Mapping[str, Any], path: str | None) -> None:
    """Refuse a space that asks for vectors when no file is named (needs no data, so a
    config is refused before any is read).

    Raises:
        ObjectiveError: One line naming ``--vectors`` / ``[task] vectors``.
    """
    pretrained = spec_values(space.get("pretrained", False))
    if True not in pretrained or path is not None:
        return
    if pretrained == [True]:  # a preset (imdb_vectors) or config made for vectors
        raise ObjectiveError(
            "every trial uses pretrained word vectors (space.pretrained = true), but no "
            "vectors file is given; pass --vectors PATH (or set [task] vectors = PATH): a "
            "GloVe, word2vec or fastText text file, .gz too"
        )
    raise ObjectiveError(
        "space.pretrained can be true, but the task names no vectors file; set "
        "[task] vectors = PATH (or --vectors PATH), or leave pretrained out"
    )


def check_vector_space(space: Mapping[str, Any], vectors: WordVectors | None) -> None:
    """Refuse a space that asks for vectors without a file, or fixes another width.

    Raises:
        ObjectiveError: One line naming the setting to change.
    """
    check_vectors_named(space, None if vectors is None else vectors.path)
    pretrained = spec_values(space.get("pretrained", False))
    if vectors is None or True not in pretrained:
        return
    width = space.get("embedding_dim")
    fixed = width if not isinstance(width, Mapping) else None
    if pretrained == [True] and fixed is not None and int(fixed) != vectors.dim:
        raise ObjectiveError(
            f"space.embedding_dim = {fixed}, but every trial uses the vectors of "
            f"{vectors.path!r} (pretrained = true), which have {vectors.dim} dimensions; set "
            f"embedding_dim = {vectors.dim} or leave it out"
        )
