"""Rebuild a trained model from a checkpoint dict, and encode new inputs for it."""

from __future__ import annotations

from typing import Any

import torch

from objectives.data._encoding import encode_token_lists
from objectives.data._text import tokenize
from objectives.errors import ObjectiveError


def model_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model a checkpoint describes, in eval mode, and what is needed to use it.

    The checkpoint's ``task_class`` (or, in older ones, ``task``) names the task that
    rebuilds it (:meth:`objectives.tasks.Task.model_from_checkpoint`).

    Args:
        checkpoint: A dict saved by an objective (``state_dict`` + config + preprocessing).

    Returns:
        ``(model, info)``: ``info`` holds ``label_names``, ``vocabulary``, ``min_freq``,
        ``max_length``, ``params`` and the validation ``metrics`` of the saved epoch.
    """
    from objectives.tasks import task_class

    reference = checkpoint.get("task_class") or checkpoint.get("task", "classification")
    return task_class(str(reference)).model_from_checkpoint(checkpoint)


def encode_texts(texts: list[str], info: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[N, T]`` and lengths ``[N]`` for new texts, as the saved model expects.

    Args:
        texts: Raw texts.
        info: The ``info`` returned by :func:`model_from_checkpoint` (or ``load_best_model``).
    """
    vocabulary = info.get("vocabulary")
    if vocabulary is None:
        raise ObjectiveError(
            "this model reads rows of numbers, not texts; use encode_features(lines, info) "
            "or `hpsearch predict`"
        )
    token_to_id = {token: i for i, token in enumerate(vocabulary)}
    # The same encoding the training data went through.
    return encode_token_lists(
        [tokenize(text) for text in texts], token_to_id, int(info["max_length"])
    )


def encode_features(lines: list[str], info: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[N, T, F]`` and lengths ``[N]`` for a model over sequences of feature rows.

    Args:
        lines: One example per line: its ``T x F`` numbers (the built-in digits: 64 pixel
            values scaled to ``[0, 1]``, row by row), separated by commas or spaces.
        info: The ``info`` returned by :func:`model_from_checkpoint` (or ``load_best_model``).
    """
    width = int(info["n_features"])
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            values = [float(v) for v in line.replace(",", " ").split()]
        except ValueError as exc:
            raise ObjectiveError(f"line {number}: {exc}") from None
        if not values or len(values) % width:
            raise ObjectiveError(
                f"line {number} has {len(values)} numbers; the model reads rows of {width}"
            )
        rows.append(torch.tensor(values, dtype=torch.float32).view(-1, width))
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True), lengths


def encode_sentences(
    sentences: list[list[str]], info: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids ``[N, T]``, lengths ``[N]`` and character ids ``[N, T, C]`` for a tagger.

    Args:
        sentences: Tokenized sentences.
        info: The ``info`` of a tagger from :func:`model_from_checkpoint`.

    Example:
        >>> ids, lengths, chars = encode_sentences([["EU", "rejects", "it"]], info)
        >>> tags = model_scores(model, model(ids, lengths, chars), lengths).argmax(-1)

        (:func:`objectives._training.model_scores`: a CRF tagger's tags are its Viterbi
        path, not the argmax of its emissions.)
    """
    from objectives.data._tagged import encode_sentences as encode

    if info.get("kind") != "sequence_tagger":
        raise ObjectiveError(
            f"encode_sentences is for taggers, but the model is {info.get('kind')!r}"
        )
    vocabulary = info["vocabulary"]
    token_to_id = {token: i for i, token in enumerate(vocabulary)}
    char_to_id = {c: i for i, c in enumerate(info.get("characters") or [])}
    width = max(1, min(int(info["max_length"]), max((len(s) for s in sentences), default=1)))
    return encode(sentences, token_to_id, char_to_id, width)
