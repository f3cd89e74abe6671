"""Per-epoch validation metrics, accumulated on the device and read once per evaluation.

Each task makes one accumulator per evaluation; :func:`objectives._training.evaluate` feeds
it every batch and calls :meth:`compute` once at the end, the only host read of the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from objectives.data._text import IGNORE_INDEX, Batch, SequenceSplit


class MetricAccumulator(Protocol):
    """What :func:`~objectives._training.evaluate` needs from a task's metrics."""

    def update(self, logits: torch.Tensor, batch: Batch) -> None:
        """Add one batch's predictions (no host read)."""

    def compute(self) -> dict[str, Any]:
        """The metrics of everything added (one host read)."""


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


class ConfusionMetrics:
    """Accuracy and macro-F1 of one label per example (text classification, tabular)."""

    def __init__(self, n_classes: int, device: torch.device | str) -> None:
        self.n_classes = n_classes
        self.confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=device)

    def update(self, logits: torch.Tensor, batch: Batch) -> None:
        self.confusion += confusion_matrix(logits.argmax(-1), batch.labels, self.n_classes)

    def compute(self) -> dict[str, Any]:
        return classification_metrics(self.confusion)


class TokenMetrics:
    """Token accuracy and top-k accuracy of tags, padding excluded (POS tagging)."""

    def __init__(self, device: torch.device | str, top_k: int = 3) -> None:
        self.top_k = top_k
        self.counts = torch.zeros(3, dtype=torch.long, device=device)  # correct, top-k, tokens

    def update(self, logits: torch.Tensor, batch: Batch) -> None:
        gold = batch.labels  # [B, T]
        mask = gold != IGNORE_INDEX
        top = logits.topk(min(self.top_k, logits.shape[-1]), dim=-1).indices  # [B, T, k]
        hits = top == gold.unsqueeze(-1)
        self.counts += torch.stack(
            [(hits[..., 0] & mask).sum(), (hits.any(-1) & mask).sum(), mask.sum()]
        )

    def compute(self) -> dict[str, Any]:
        correct, correct_top_k, tokens = self.counts.tolist()
        return {
            "accuracy": correct / tokens if tokens else 0.0,
            f"top{self.top_k}_accuracy": correct_top_k / tokens if tokens else 0.0,
        }


class EntityMetrics:
    """Entity-level micro precision/recall/F1 and per-type F1 with seqeval (NER).

    Predicted tag ids are written into a device buffer shaped like the split's labels; the
    buffer is read once, then scored with :func:`objectives._tagging_metrics.entity_scores`.
    """

    def __init__(self, split: SequenceSplit, tag_names: Sequence[str], scheme: str) -> None:
        self.split = split
        self.tag_names = list(tag_names)
        self.scheme = scheme
        self.predicted = torch.zeros_like(split.labels)  # [N, T]
        self.tokens = TokenMetrics(split.labels.device, top_k=1)

    def update(self, logits: torch.Tensor, batch: Batch) -> None:
        width = logits.shape[1]
        self.predicted[batch.index, :width] = logits.argmax(-1)
        self.tokens.update(logits, batch)

    def compute(self) -> dict[str, Any]:
        from objectives._tagging_metrics import entity_scores, ids_to_tags

        lengths = self.split.lengths.clamp(max=self.split.labels.shape[1])
        gold = ids_to_tags(self.split.labels.clamp(min=0), lengths, self.tag_names)
        predicted = ids_to_tags(self.predicted, lengths, self.tag_names)
        scores = entity_scores(gold, predicted, scheme=self.scheme)  # type: ignore[arg-type]
        return {
            "f1": scores.f1,
            "precision": scores.precision,
            "recall": scores.recall,
            "accuracy": self.tokens.compute()["accuracy"],
            "per_type_f1": scores.per_type_f1,
        }
