"""The training loop: length-bucketed batches from resident tensors, metrics kept on device.

No step waits on the host: losses and confusion counts accumulate as tensors and are read
once per epoch, so the same loop keeps a GPU busy and stays simple on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import torch
from torch import nn

from objectives._metrics import (
    ConfusionMetrics,
    MetricAccumulator,
    classification_metrics,
    confusion_matrix,
)
from objectives._schedules import LRSchedule
from objectives.data._text import IGNORE_INDEX, Batch, SequenceSplit
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

    def build(self, model: nn.Module, *, capturable: bool = False) -> torch.optim.Optimizer:
        """The torch optimizer over ``model``'s parameters.

        Args:
            model: The model to train.
            capturable: Build it so its step can be captured in a CUDA graph: Adam and AdamW
                keep their step count and learning rate on the device (a schedule then
                updates the rate in place, which replays see). SGD's rate stays a number
                that a graph freezes (see :func:`objectives._graphs.graphs_unavailable`).
        """
        # Frozen weights (pretrained embeddings) get no optimizer state and no decay.
        params = [p for p in model.parameters() if p.requires_grad]
        if self.optimizer in ("adam", "adamw"):
            cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
            if capturable:
                lr = torch.tensor(self.lr, device=params[0].device)
                return cls(params, lr=lr, weight_decay=self.weight_decay, capturable=True)
            return cls(params, lr=self.lr, weight_decay=self.weight_decay)
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
    split: SequenceSplit,
    batch_size: int,
    generator: torch.Generator | None = None,
    width: Callable[[int, int], int] | None = None,
) -> Iterator[Batch]:
    """Yield batches of similar lengths, each cut to its longest sequence.

    Args:
        split: The examples.
        batch_size: Examples per batch.
        generator: Batch order (``None``: sorted by length, for evaluation).
        width: Maps (longest length, split width) to the width to cut to, when batches
            should come in fewer shapes than lengths (CUDA graphs); default: the longest.
    """
    for index in bucketed_batches(split.lengths, batch_size, generator):
        yield split.batch(index, width)


def batch_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy and the number of labels counted, padding ignored.

    One function for every head: ``[B, C]`` logits with ``[B]`` labels, or ``[B, T, K]``
    logits with ``[B, T]`` tags where padding is :data:`~objectives.data._text.IGNORE_INDEX`.
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


@runtime_checkable
class OwnOutputLayer(Protocol):
    """A model whose output layer computes its own loss and predictions (a CRF tagger).

    Models without these methods are trained on :func:`batch_loss` and predict the argmax
    of their outputs.
    """

    def output_loss(
        self, logits: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss and labels counted, as :func:`batch_loss` returns them."""
        ...

    def output_scores(self, logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores shaped like ``logits`` whose argmax is the prediction."""
        ...


def model_loss(
    model: nn.Module, logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own loss (:class:`OwnOutputLayer`) or :func:`batch_loss`."""
    if isinstance(model, OwnOutputLayer):
        return model.output_loss(logits, labels)
    return batch_loss(logits, labels)


def model_scores(
    model: nn.Module, logits: torch.Tensor, lengths: torch.Tensor | None
) -> torch.Tensor:
    """Scores whose argmax is the model's prediction: its own (:class:`OwnOutputLayer`,
    which reads ``lengths``) or ``logits``."""
    if isinstance(model, OwnOutputLayer) and lengths is not None:
        return model.output_scores(logits, lengths)
    return logits


def count_batches(n_examples: int, batch_size: int) -> int:
    """Batches :func:`bucketed_batches` makes per epoch (buckets hold whole batches)."""
    return max(1, math.ceil(n_examples / batch_size))


class TrainSteps:
    """Runs the optimizer steps of an epoch eagerly and sums their losses on the device.

    The base of the training-step strategies: :class:`objectives._graphs.CudaGraphSteps`
    replays captured steps instead, with the same arithmetic.

    Args:
        model: The model being trained.
        optimizer: Its optimizer.
        config: Batch size and gradient clipping.
    """

    #: Maps (longest length, split width) to a batch width; ``None`` cuts to the longest.
    width: Callable[[int, int], int] | None = None

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, config: OptimizerConfig
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.config = config
        device = next(model.parameters()).device
        self.total = torch.zeros((), device=device)
        self.count = torch.zeros((), device=device, dtype=torch.long)

    @contextmanager
    def epoch(self) -> Iterator[None]:
        """Around one epoch's steps: resets the loss sums (in place: captured steps add to
        these very tensors)."""
        self.total.zero_()
        self.count.zero_()
        yield

    def step(self, batch: Batch) -> None:
        """One optimizer step on ``batch``."""
        self.optimizer.zero_grad(set_to_none=True)
        self.train_step(batch.model_inputs(), batch.labels)

    def train_step(self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> None:
        """Forward, backward, clip, update, and add the loss to the sums (no host read)."""
        loss, n_labels = model_loss(self.model, self.model(*inputs), labels)
        (loss / n_labels.clamp(min=1)).backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.total += loss.detach()
        self.count += n_labels

    def mean_loss(self) -> torch.Tensor:
        """The epoch's mean training loss as a 0-d tensor (not read)."""
        return self.total / self.count.clamp(min=1)


def train_epoch(
    steps: TrainSteps,
    split: SequenceSplit,
    generator: torch.Generator,
    schedule: LRSchedule | None = None,
) -> torch.Tensor:
    """One pass over ``split``; returns the mean training loss as a 0-d tensor (not read).

    Args:
        steps: How steps run (eager :class:`TrainSteps`, or captured CUDA graphs); it holds
            the model, its optimizer and the batch size and clipping settings.
        split: Training examples, resident on the model's device.
        generator: Batch order.
        schedule: Stepped after every batch (one-cycle), when given.
    """
    steps.model.train()
    with steps.epoch():
        for batch in iterate(split, steps.config.batch_size, generator, steps.width):
            steps.step(batch)
            if schedule is not None:
                schedule.after_batch()
    return steps.mean_loss()


@torch.no_grad()
def predict(model: nn.Module, split: SequenceSplit, batch_size: int = 256) -> torch.Tensor:
    """Predicted class ids ``[N]`` (or tag ids ``[N, T]``), in the split's order."""
    model.eval()
    predicted = torch.zeros_like(split.labels)
    for batch in iterate(split, batch_size):
        logits = model_scores(model, model(*batch.model_inputs()), batch.lengths)
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
        batch_sum, n_labels = model_loss(model, logits, batch.labels)
        loss += batch_sum
        count += n_labels
        metrics.update(model_scores(model, logits, batch.lengths), batch)
    result = metrics.compute()
    result["loss"] = float(loss / count.clamp(min=1))
    return result
