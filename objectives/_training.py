"""The training loop: length-bucketed batches from resident tensors, metrics kept on device.

No step waits on the host: losses and confusion counts accumulate as tensors and are read
once per epoch, so the same loop keeps a GPU busy and stays simple on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

from objectives._data import SequenceSplit
from objectives.errors import ObjectiveError

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


def _batch(split: SequenceSplit, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = split.lengths[index]
    width = int(lengths.max())  # lengths live on the CPU: no device sync here
    device_index = index.to(split.inputs.device)
    return split.inputs[device_index, :width], lengths


def iterate(
    split: SequenceSplit, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(inputs, lengths, labels)`` batches cut to each batch's longest sequence."""
    for index in bucketed_batches(split.lengths, batch_size, generator):
        inputs, lengths = _batch(split, index)
        yield inputs, lengths, split.labels[index.to(split.labels.device)]


def train_epoch(
    model: nn.Module,
    split: SequenceSplit,
    optimizer: torch.optim.Optimizer,
    config: OptimizerConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """One pass over ``split``; returns the mean training loss as a 0-d tensor (not read)."""
    model.train()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total = torch.zeros((), device=split.labels.device)
    for inputs, lengths, labels in iterate(split, config.batch_size, generator):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs, lengths), labels)
        (loss / labels.shape[0]).backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        total += loss.detach()
    return total / max(len(split), 1)


def confusion_matrix(predicted: torch.Tensor, gold: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[C, C]`` counts, rows gold and columns predicted, computed on the tensors' device."""
    return torch.bincount(gold * n_classes + predicted, minlength=n_classes * n_classes).view(
        n_classes, n_classes
    )


def classification_metrics(confusion: torch.Tensor) -> dict[str, float]:
    """Accuracy and macro-F1 from a confusion matrix (classes never seen count as F1 0)."""
    confusion = confusion.double()
    true_positive = confusion.diagonal()
    predicted = confusion.sum(0)
    gold = confusion.sum(1)
    f1 = 2 * true_positive / (predicted + gold).clamp(min=1)
    present = (gold + predicted) > 0  # classes absent from both sides would add a free 0
    accuracy = true_positive.sum() / confusion.sum().clamp(min=1)
    macro_f1 = f1[present].mean() if bool(present.any()) else torch.zeros(())
    return {"accuracy": float(accuracy), "macro_f1": float(macro_f1)}


@torch.no_grad()
def predict(model: nn.Module, split: SequenceSplit, batch_size: int = 256) -> torch.Tensor:
    """Predicted class ids ``[N]``, in the split's order."""
    model.eval()
    predicted = torch.empty_like(split.labels)
    for index in bucketed_batches(split.lengths, batch_size, None):
        inputs, lengths = _batch(split, index)
        predicted[index.to(predicted.device)] = model(inputs, lengths).argmax(-1)
    return predicted


@torch.no_grad()
def evaluate(
    model: nn.Module, split: SequenceSplit, n_classes: int, batch_size: int = 256
) -> dict[str, float]:
    """Validation loss, accuracy and macro-F1 of ``model`` on ``split`` (one host read)."""
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    loss = torch.zeros((), device=split.labels.device)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=split.labels.device)
    for inputs, lengths, labels in iterate(split, batch_size):
        logits = model(inputs, lengths)
        loss += loss_fn(logits, labels)
        confusion += confusion_matrix(logits.argmax(-1), labels, n_classes)
    metrics = classification_metrics(confusion)
    metrics["loss"] = float(loss) / max(len(split), 1)
    return metrics
