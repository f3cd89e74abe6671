"""Metrics for token tagging: entity-level NER scores (seqeval) and POS token accuracy (torch).

NER follows CoNLL practice: an entity counts only when its type and both boundaries match.
Scores are computed with seqeval in strict IOB2 mode; IOB1 data (CoNLL-2003) is first
converted to IOB2 with :func:`iob1_to_iob2`, which reads entities the way ``conlleval``
does, so the two schemes give the same numbers for the same entities.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from objectives.data._readers import IobScheme
from objectives.errors import ObjectiveError


@dataclass(frozen=True)
class EntityScores:
    """Entity-level micro scores and per-type F1.

    Attributes:
        precision: Correct predicted entities / predicted entities (0 when none predicted).
        recall: Correct predicted entities / gold entities.
        f1: Harmonic mean of precision and recall, the usual CoNLL headline number.
        per_type_f1: F1 for each gold or predicted entity type (``"PER"``, ``"LOC"``...).
        per_type_support: Number of gold entities of each type.
    """

    precision: float
    recall: float
    f1: float
    per_type_f1: dict[str, float] = field(default_factory=dict)
    per_type_support: dict[str, int] = field(default_factory=dict)


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Rewrite one sentence of IOB1 tags as IOB2.

    An ``I-X`` starts an entity (and becomes ``B-X``) at the sentence start, after ``O``
    or after a tag of another type, as in ``conlleval``; ``B-X`` already starts one.

    Args:
        tags: The IOB1 tags of one sentence.

    Returns:
        The same entities tagged in IOB2.

    Raises:
        ObjectiveError: A tag that is not ``O``, ``B-TYPE`` or ``I-TYPE``.
    """
    converted: list[str] = []
    previous = "O"
    for index, tag in enumerate(tags):
        if tag != "O" and not tag.startswith(("B-", "I-")):
            raise ObjectiveError(
                f"tag {tag!r} at token {index} is not IOB; accepted: 'O', 'B-TYPE', 'I-TYPE'."
            )
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            converted.append("B-" + tag[2:])
        else:
            converted.append(tag)
        previous = tag
    return converted


def entity_scores(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    *,
    scheme: IobScheme,
) -> EntityScores:
    """Entity-level micro precision/recall/F1 and per-type F1 (seqeval, strict IOB2).

    Args:
        gold: Gold tags, one list per sentence.
        predicted: Predicted tags, aligned with ``gold``.
        scheme: The tagging scheme of both (see :func:`objectives.data._readers.detect_iob_scheme`);
            ``"IOB1"`` sequences are converted with :func:`iob1_to_iob2` first. In strict
            IOB2 an ``I-X`` that does not continue an ``X`` entity is not an entity.

    Returns:
        The scores; every value is 0 when nothing is predicted or there is no gold entity.

    Raises:
        ValueError: ``gold`` and ``predicted`` differ in sentence count or lengths, or the
            scheme is unknown.
    """
    # seqeval pulls in scikit-learn; importing it here keeps `import objectives` light.
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if scheme not in ("IOB1", "IOB2"):
        raise ValueError(f"scheme must be 'IOB1' or 'IOB2', but got {scheme=}.")
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted.")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(
                f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted."
            )
    if scheme == "IOB1":
        gold = [iob1_to_iob2(tags) for tags in gold]
        predicted = [iob1_to_iob2(tags) for tags in predicted]
    else:
        gold = [list(tags) for tags in gold]
        predicted = [list(tags) for tags in predicted]

    with warnings.catch_warnings():
        # With no entity at all seqeval averages an empty table and numpy warns about the
        # empty mean; the per-type rows are simply empty then, which is the right answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        # One report gives micro and per-type scores from a single pass over the entities;
        # separate precision/recall/f1 calls would extract them four times.
        report = classification_report(
            gold, predicted, output_dict=True, mode="strict", scheme=IOB2, zero_division=0
        )
    averages = {"micro avg", "macro avg", "weighted avg"}
    micro = report.get("micro avg", {})
    return EntityScores(
        precision=float(micro.get("precision", 0.0)),
        recall=float(micro.get("recall", 0.0)),
        f1=float(micro.get("f1-score", 0.0)),
        per_type_f1={
            name: float(row["f1-score"]) for name, row in report.items() if name not in averages
        },
        per_type_support={
            name: int(row["support"]) for name, row in report.items() if name not in averages
        },
    )


def padding_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean ``[batch, time]`` mask that is ``True`` on the first ``lengths[i]`` steps.

    Args:
        lengths: Sentence lengths, shape ``[batch]``.
        max_length: Width of the mask; the longest length when omitted.

    Returns:
        The mask on the device of ``lengths``.
    """
    width = int(lengths.max()) if max_length is None else max_length
    steps = torch.arange(width, device=lengths.device)  # [time]
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # [batch, time]


def ids_to_tags(
    tag_ids: torch.Tensor, lengths: torch.Tensor, tag_names: Sequence[str]
) -> list[list[str]]:
    """Turn padded tag ids back into one list of tag names per sentence (for seqeval).

    Args:
        tag_ids: Predicted or gold ids, shape ``[batch, time]``, on any device.
        lengths: Real lengths, shape ``[batch]``; steps past them are padding and dropped.
        tag_names: Name of each tag id.

    Returns:
        ``batch`` lists of ``lengths[i]`` tag names.

    Raises:
        ValueError: Mismatched shapes, or an id outside ``tag_names`` within a sentence.
    """
    if tag_ids.dim() != 2 or lengths.shape != tag_ids.shape[:1]:
        raise ValueError(
            f"tag_ids must be [batch, time] and lengths [batch], but got "
            f"{tuple(tag_ids.shape)} and {tuple(lengths.shape)}."
        )
    ids = tag_ids.detach().cpu().numpy()
    sizes = lengths.detach().cpu().tolist()
    if sizes and (min(sizes) < 0 or max(sizes) > ids.shape[1]):
        raise ValueError(f"lengths must lie in [0, {ids.shape[1]}], but got {sizes}.")
    mask = np.arange(ids.shape[1])[None, :] < np.asarray(sizes, dtype=np.int64)[:, None]
    valid = ids[mask]
    if valid.size and (valid.min() < 0 or valid.max() >= len(tag_names)):
        raise ValueError(
            f"tag ids must lie in [0, {len(tag_names)}), but got {valid.min()}..{valid.max()}."
        )
    # One vectorised lookup for the whole batch, then cut back into sentences.
    names = np.asarray(tag_names, dtype=object)[valid].tolist()
    offsets = np.cumsum([0, *sizes]).tolist()
    return [names[start:end] for start, end in zip(offsets[:-1], offsets[1:], strict=True)]
