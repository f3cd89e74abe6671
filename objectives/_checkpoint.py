"""Rebuild a trained model from a checkpoint dict, and encode new inputs for it."""

from __future__ import annotations

from typing import Any

import torch

from objectives._data import _encode_texts, tokenize
from objectives._models import (
    ClassifierConfig,
    MLPClassifier,
    MLPConfig,
    SequenceClassifier,
    SequenceTagger,
    TaggerConfig,
)
from objectives.errors import ObjectiveError

_KINDS: dict[str, tuple[Any, Any]] = {
    "sequence_classifier": (ClassifierConfig, SequenceClassifier),
    "sequence_tagger": (TaggerConfig, SequenceTagger),
    "mlp_classifier": (MLPConfig, MLPClassifier),
}


def model_from_checkpoint(checkpoint: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model a checkpoint describes, in eval mode, and what is needed to use it.

    Args:
        checkpoint: A dict saved by an objective (``state_dict`` + config + preprocessing).

    Returns:
        ``(model, info)``: ``info`` holds ``label_names``, ``vocabulary``, ``min_freq``,
        ``max_length``, ``params`` and the validation ``metrics`` of the saved epoch.
    """
    kind = checkpoint.get("kind")
    if kind not in _KINDS:
        raise ObjectiveError(
            f"checkpoint kind {kind!r} is not known; accepted: {', '.join(_KINDS)}"
        )
    config_class, model_class = _KINDS[kind]
    model = model_class(config_class.from_dict(checkpoint["model_config"]))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    info = {
        **checkpoint["preprocessing"],
        "params": checkpoint["params"],
        "metrics": checkpoint["metrics"],
        "kind": kind,
        "task": checkpoint.get("task", "classification"),
    }
    return model, info


def encode_texts(texts: list[str], info: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[N, T]`` and lengths ``[N]`` for new texts, as the saved model expects.

    Args:
        texts: Raw texts.
        info: The ``info`` returned by :func:`model_from_checkpoint` (or ``load_best_model``).
    """
    vocabulary = info.get("vocabulary")
    if vocabulary is None:
        raise ObjectiveError("this model reads float features, not texts; pass feature tensors")
    token_to_id = {token: i for i, token in enumerate(vocabulary)}
    # The same encoding the training data went through.
    return _encode_texts([tokenize(text) for text in texts], token_to_id, int(info["max_length"]))


def encode_sentences(
    sentences: list[list[str]], info: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids ``[N, T]``, lengths ``[N]`` and character ids ``[N, T, C]`` for a tagger.

    Args:
        sentences: Tokenized sentences.
        info: The ``info`` of a tagger from :func:`model_from_checkpoint`.

    Example:
        >>> ids, lengths, chars = encode_sentences([["EU", "rejects", "it"]], info)
        >>> tags = model(ids, lengths, chars).argmax(-1)
    """
    from objectives._tagging_data import encode_sentences as encode

    if info.get("kind") != "sequence_tagger":
        raise ObjectiveError(
            f"encode_sentences is for taggers, but the model is {info.get('kind')!r}"
        )
    vocabulary = info["vocabulary"]
    token_to_id = {token: i for i, token in enumerate(vocabulary)}
    char_to_id = {c: i for i, c in enumerate(info.get("characters") or [])}
    width = max(1, min(int(info["max_length"]), max((len(s) for s in sentences), default=1)))
    return encode(sentences, token_to_id, char_to_id, width)
