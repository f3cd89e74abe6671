"""A convolutional text classifier (Kim 2014, small) as an hpsearch task.

hpsearch runs it like a built-in task: workers, the shared budget, heartbeats, pruning on
its per-epoch accuracy, checkpoints of the best trials, ``load_best_model``, ``best
--evaluate-test``, ``predict`` (with ``--ensemble K`` too) and reports. Point a study at it with
``[task] name = "text_cnn:TextCNNTask"`` (this folder is the current one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from objectives import encode_texts, load_classification_data
from objectives._metrics import ConfusionMetrics, MetricAccumulator
from objectives.data import ClassificationData, SequenceSplit, SplitSettings
from objectives.tasks import (
    TRAINING_PARAMETERS,
    LabelPerInput,
    Task,
    TaskConfig,
    field_defaults,
    softmax_of,
)


@dataclass(frozen=True)
class TextCNNConfig:
    """Shape of a :class:`TextCNN` (saved with its checkpoint)."""

    vocabulary_size: int
    n_classes: int
    embedding_dim: int = 64
    n_filters: int = 32
    max_kernel: int = 4  # convolutions of widths 2 .. max_kernel
    dropout: float = 0.2


class TextCNN(nn.Module):
    """Embeddings -> parallel 1-d convolutions -> max over time -> a linear head."""

    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocabulary_size, config.embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.n_filters, width)
            for width in range(2, config.max_kernel + 1)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_filters * len(self.convs), config.n_classes)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding(inputs).transpose(1, 2)  # [B, E, T]
        if x.shape[-1] < self.config.max_kernel:  # a batch shorter than the widest filter
            x = nn.functional.pad(x, (0, self.config.max_kernel - x.shape[-1]))
        pooled = [conv(x).relu().amax(dim=-1) for conv in self.convs]  # each [B, F]
        return self.head(self.dropout(torch.cat(pooled, dim=1)))  # [B, n_classes]


class TextCNNTask(LabelPerInput):
    """One label per text, read by :class:`TextCNN`."""

    name = "textcnn"
    metrics = ("accuracy", "macro_f1", "loss")
    checkpoint_kind = "text_cnn"
    parameters = {
        **field_defaults(TextCNNConfig, ["embedding_dim", "n_filters", "max_kernel", "dropout"]),
        **TRAINING_PARAMETERS,  # optimizer, lr, batch_size, scheduler, ...: the shared loop's
        "min_freq": 1,
        "max_length": None,
    }

    @classmethod
    def default_space(cls, config: TaskConfig, epochs: int) -> dict[str, Any]:
        return {
            "embedding_dim": {"type": "int", "low": 16, "high": 128, "log": True},
            "n_filters": {"type": "int", "low": 8, "high": 64, "log": True},
            "max_kernel": {"type": "int", "low": 2, "high": 5},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
            "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
        }

    @classmethod
    def load(cls, config: TaskConfig, split: SplitSettings) -> Task:
        data = load_classification_data(
            config.data,
            text_column=config.text_column,
            label_column=config.label_column,
            test_data=config.test_data,
            validation_data=config.validation_data,
            max_length=config.max_length,
            split=split,
        )
        return cls(data)

    def __init__(self, data: ClassificationData) -> None:
        self.data = data
        self.train, self.validation, self.test = data.train, data.validation, data.test
        self.label_names = list(data.label_names)

    def _view_settings(self, p: Mapping[str, Any]) -> dict[str, int]:
        return {
            "min_freq": int(p["min_freq"]),
            "max_length": int(p["max_length"] or self.data.max_length),
        }

    def view(self, split: SequenceSplit, p: Mapping[str, Any]) -> SequenceSplit:
        return self.data.view(split, **self._view_settings(p))

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        return TextCNN(
            TextCNNConfig(
                vocabulary_size=self.data.vocabulary_size(int(p["min_freq"])),
                n_classes=len(self.label_names),
                embedding_dim=int(p["embedding_dim"]),
                n_filters=int(p["n_filters"]),
                max_kernel=int(p["max_kernel"]),
                dropout=float(p["dropout"]),
            )
        )

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        return ConfusionMetrics(len(self.label_names), split.labels.device)

    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        info = {**self.data.preprocessing(), **self._view_settings(p)}
        vocabulary = info["vocabulary"] or []
        info["vocabulary"] = vocabulary[: model.config.vocabulary_size]  # type: ignore[union-attr]
        return info

    @classmethod
    def rebuild_model(cls, checkpoint: Mapping[str, Any]) -> nn.Module:
        return TextCNN(TextCNNConfig(**checkpoint["model_config"]))

    @classmethod
    def predict_probabilities(
        cls, model: nn.Module, info: Mapping[str, Any], path: Path
    ) -> torch.Tensor:
        """Class probabilities per line of ``path`` (``predict`` labels each with its highest;
        ``best/predict --ensemble K`` average them over the K best trials' models)."""
        texts = path.read_text(encoding="utf-8").splitlines()
        if not texts:
            return torch.zeros(0, len(info["label_names"]))
        return softmax_of(model, *encode_texts(texts, dict(info)))
