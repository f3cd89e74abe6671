"""Ensembles of trained models: their class probabilities averaged, example by example.

Each member reads the split its own way (its vocabulary cut-off and maximum length:
``Task.view``), so the members never share a batch; their probabilities are put back in the
split's order and averaged there. Models with one label per example only (classifiers and
the tabular MLP): a tagger's labels are per token (and a CRF tagger's a path).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from objectives._training import iterate
from objectives.data._text import SequenceSplit
from objectives.errors import ObjectiveError

if TYPE_CHECKING:
    from objectives.tasks import Task

Member = tuple[nn.Module, Mapping[str, Any]]
"""A trained model and the parameters it was trained with (they say how it reads data)."""


@torch.no_grad()
def class_probabilities(
    model: nn.Module, split: SequenceSplit, batch_size: int = 256
) -> torch.Tensor:
    """``[N, C]`` softmax probabilities of ``model`` for every example of ``split``, in order.

    Raises:
        ObjectiveError: The model gives no probabilities per example (a tagger).
    """
    model.eval()
    result: torch.Tensor | None = None
    for batch in iterate(split, batch_size):
        logits = model(*batch.model_inputs())
        if logits.dim() != 2:
            raise ObjectiveError(
                "an ensemble needs one label per example (classification or tabular); this "
                f"model gives outputs of shape {list(logits.shape)} (a label per token)"
            )
        if result is None:
            result = torch.zeros(len(split), logits.shape[-1], device=logits.device)
        result[batch.index] = torch.softmax(logits.float(), dim=-1)
    if result is None:
        raise ObjectiveError("the split to score has no examples")
    return result


def ensemble_probabilities(
    task: Task, members: Sequence[Member], split: SequenceSplit
) -> torch.Tensor:
    """The members' class probabilities for ``split``, averaged (each on its own view)."""
    if not members:
        raise ObjectiveError("an ensemble needs at least one member")
    total = sum(
        (class_probabilities(model, task.view(split, params)) for model, params in members),
        start=torch.zeros(()),
    )
    return total / len(members)


def ensemble_metrics(task: Task, members: Sequence[Member], split: SequenceSplit) -> dict[str, Any]:
    """The task's metrics for the members' averaged probabilities on ``split``.

    ``loss`` is the mean negative log-likelihood of the averaged probabilities, as a single
    model's loss is of its own.
    """
    probabilities = ensemble_probabilities(task, members, split)
    metrics = task.new_metrics(split)
    for batch in iterate(split, 256):
        metrics.update(probabilities[batch.index], batch)
    result = metrics.compute()
    labels = split.labels.to(probabilities.device)
    chosen = probabilities.gather(1, labels[:, None]).clamp(min=1e-12)
    result["loss"] = float(-chosen.log().mean()) if len(split) else math.nan
    return result
