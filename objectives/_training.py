"""The training loop: length-bucketed batches from resident tensors, metrics kept on device.

No step waits on the host: losses and confusion counts accumulate as tensors and are read
once per epoch, so the same loop keeps a GPU busy and stays simple on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from objectives._data import IGNORE_INDEX, Batch, SequenceSplit
from objectives._metrics import (
    ConfusionMetrics,
    MetricAccumulator,
    classification_metrics,
    confusion_matrix,
)
from objectives._schedules import LRSchedule
from objectives.errors import ObjectiveError

__all__ = ["classification_metrics", "confusion_matrix"]

OptimizerName = Literal["adam", "adamw", "sgd"]

# How many batches' worth of examples are sorted by length together: large enough that
# neighbours have similar lengths (little padding), small enough to keep batches random.
_BUCKET_BATCHES = 50


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and batch settings of one trial."""

    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in get_args(OptimizerName):
            raise ObjectiveError(
                f"optimizer {self.optimizer!r} is not accepted; accepted: "
                f"{', '.join(get_args(OptimizerName))}"
            )
        if not self.lr > 0:
            raise ObjectiveError(f"lr must be positive, but got lr={self.lr}.")
        if self.batch_size < 1:
            raise ObjectiveError(f"batch_size must be at least 1, but got {self.batch_size}.")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ObjectiveError(
                f"weight_decay and grad_clip must be >= 0, but got {self.weight_decay=}, "
                f"{self.grad_clip=}."
            )

    def build(self, model: nn.Module) -> torch.optim.Optimizer:
        """The torch optimizer over ``model``'s parameters."""
        params = model.parameters()
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay, momentum=0.9)


def bucketed_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator | None
) -> list[torch.Tensor]:
    """Index batches of similar lengths, in random order.

    Args:
        lengths: ``[N]`` sequence lengths.
        batch_size: Examples per batch.
        generator: Source of randomness; ``None`` keeps the data order (for evaluation).

    Returns:
        Index tensors covering every example once.
    """
    n = int(lengths.shape[0])
    if generator is None:
        order = torch.argsort(lengths, stable=True)
        return list(order.split(batch_size))
    order = torch.randperm(n, generator=generator)
    chunk = batch_size * _BUCKET_BATCHES
    batches: list[torch.Tensor] = []
    for start in range(0, n, chunk):
        part = order[start : start + chunk]
        part = part[torch.argsort(lengths[part], stable=True)]
        batches.extend(part.split(batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def iterate(
    split: SequenceSplit, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[Batch]:
    """Yield batches of similar lengths, each cut to its longest sequence."""
    for index in bucketed_batches(split.lengths, batch_size, generator):
        yield split.batch(index)


def batch_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy and the number of labels counted, padding ignored.

    One function for every head: ``[B, C]`` logits with ``[B]`` labels, or ``[B, T, K]``
    logits with ``[B, T]`` tags where padding is :data:`~objectives._data.IGNORE_INDEX`.
    Both results stay on the device (no host read).
    """
    flat_labels = labels.reshape(-1)
    loss = nn.functional.cross_entropy(
        logits.reshape(flat_labels.shape[0], -1),
        flat_labels,
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, (flat_labels != IGNORE_INDEX).sum()


def count_batches(n_examples: int, batch_size: int) -> int:
    """Batches :func:`bucketed_batches` makes per epoch (buckets hold whole batches)."""
    return max(1, math.ceil(n_examples / batch_size))


def train_epoch(
    model: nn.Module,
    split: SequenceSplit,
    optimizer: torch.optim.Optimizer,
    config: OptimizerConfig,
    generator: torch.Generator,
    schedule: LRSchedule | None = None,
) -> torch.Tensor:
    """One pass over ``split``; returns the mean training loss as a 0-d tensor (not read)."""
    model.train()
    total = torch.zeros((), device=split.labels.device)
    count = torch.zeros((), device=split.labels.device, dtype=torch.long)
    for batch in iterate(split, config.batch_size, generator):
        optimizer.zero_grad(set_to_none=True)
        loss, n_labels = batch_loss(model(*batch.model_inputs()), batch.labels)
        (loss / n_labels.clamp(min=1)).backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if schedule is not None:
            schedule.after_batch()
        total += loss.detach()
        count += n_labels
    return total / count.clamp(min=1)


@torch.no_grad()
def predict(model: nn.Module, split: SequenceSplit, batch_size: int = 256) -> torch.Tensor:
    """Predicted class ids ``[N]`` (or tag ids ``[N, T]``), in the split's order."""
    model.eval()
    predicted = torch.zeros_like(split.labels)
    for batch in iterate(split, batch_size):
        logits = model(*batch.model_inputs())
        if logits.dim() == 3:
            predicted[batch.index, : logits.shape[1]] = logits.argmax(-1)
        else:
            predicted[batch.index] = logits.argmax(-1)
    return predicted


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: SequenceSplit,
    n_classes: int | None = None,
    batch_size: int = 256,
    *,
    metrics: MetricAccumulator | None = None,
) -> dict[str, Any]:
    """Validation loss and the task's metrics of ``model`` on ``split`` (one host read).

    Args:
        model: Any head (classifier, tagger, MLP).
        split: The split to score.
        n_classes: Classes, for accuracy and macro-F1 when no ``metrics`` are given.
        batch_size: Examples per batch.
        metrics: The task's accumulator (see :mod:`objectives._metrics`).
    """
    if metrics is None:
        if n_classes is None:
            raise ValueError("evaluate needs n_classes or a metrics accumulator")
        metrics = ConfusionMetrics(n_classes, split.labels.device)
    model.eval()
    loss = torch.zeros((), device=split.labels.device)
    count = torch.zeros((), device=split.labels.device, dtype=torch.long)
    for batch in iterate(split, batch_size):
        logits = model(*batch.model_inputs())
        batch_sum, n_labels = batch_loss(logits, batch.labels)
        loss += batch_sum
        count += n_labels
        metrics.update(logits, batch)
    result = metrics.compute()
    result["loss"] = float(loss / count.clamp(min=1))
    return result
