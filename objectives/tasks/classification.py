"""Text classification (and sequences of feature rows, such as the built-in digits)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from objectives._checkpoint import encode_features, encode_texts
from objectives._metrics import ConfusionMetrics, MetricAccumulator
from objectives._models import ClassifierConfig, SequenceClassifier
from objectives.data import (
    BUILTIN_DATASETS,
    TEXT_FORMATS,
    ClassificationData,
    SequenceSplit,
    SplitSettings,
    TaggingData,
    TextFormat,
    load_classification_data,
)
from objectives.errors import ObjectiveError
from objectives.tasks._base import TRAINING_PARAMETERS, Task, TaskConfig, field_defaults
from objectives.tasks._derive import spec_values
from objectives.tasks._labels import LabelPerInput, softmax_of
from objectives.tasks._pretrained import vector_space
from objectives.tasks._recurrent import (
    ENCODER_PARAMETERS,
    TEXT_PARAMETERS,
    RecurrentTask,
    read_lines,
)
from objectives.tasks._spaces import encoder_space, optimizer_space

CLASSIFICATION_PARAMETERS: dict[str, Any] = {
    **ENCODER_PARAMETERS,
    **field_defaults(ClassifierConfig, ["aggregation", "ngrams"]),
    **TRAINING_PARAMETERS,
    **TEXT_PARAMETERS,
}
"""Every hyperparameter the classification objective reads, with its default."""


class ClassificationTask(LabelPerInput, RecurrentTask):
    """One label per text (or per sequence of feature rows): recurrent encoder + pooling."""

    name = "classification"
    metrics = ("accuracy", "macro_f1", "loss")
    parameters = CLASSIFICATION_PARAMETERS
    checkpoint_kind = "sequence_classifier"
    formats = TEXT_FORMATS

    @classmethod
    def default_space(cls, config: TaskConfig, epochs: int) -> dict[str, Any]:
        space: dict[str, Any] = {
            **encoder_space(),
            "aggregation": {"type": "categorical", "choices": ["last", "mean", "max"]},
            **optimizer_space(3e-2, [32, 64, 128]),
        }
        if config.data not in BUILTIN_DATASETS:  # text: the vocabulary and length are searched
            space["min_freq"] = {"type": "int", "low": 1, "high": 5}
            space["max_length"] = {"type": "categorical", "choices": [64, 128, 256]}
            # A linear term over words and bigrams next to the recurrent model's pooling.
            space["ngrams"] = {"type": "categorical", "choices": [0, 2]}
        # Classification keeps the foundation's space (studies resumed across versions stay
        # comparable); its presets add the schedule dimensions in their [space].
        return vector_space(config, space)

    @classmethod
    def check_space(cls, config: TaskConfig, space: Mapping[str, Any]) -> None:
        """Also refuse word-level settings on the built-in float-feature data (no words)."""
        super().check_space(config, space)
        if config.data not in BUILTIN_DATASETS:
            return
        for name in ("ngrams", "word_dropout"):
            spec = space.get(name, 0)
            values = spec_values(spec) or [spec.get("high", 0)]  # a range: its top
            if any(values):
                raise ObjectiveError(
                    f"space.{name} needs token inputs (text data), but {config.data!r} has "
                    f"float features; leave {name} out of the space or use text data"
                )

    @classmethod
    def load(cls, config: TaskConfig, split: SplitSettings) -> Task:
        data = load_classification_data(
            config.data,
            text_column=config.text_column,
            label_column=config.label_column,
            test_data=config.test_data,
            validation_data=config.validation_data,
            max_length=config.max_length,
            data_format=cast(TextFormat, config.format),  # one of `formats`: build_config checked
            split=split,
        )
        return cls(data).use_vectors(config.vectors)

    def __init__(self, data: ClassificationData) -> None:
        if isinstance(data, TaggingData) or not isinstance(data, ClassificationData):
            raise ObjectiveError(
                "task 'classification' needs texts with one label each; tagged sentences "
                "belong to --task ner or pos"
            )
        super().__init__(data)

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        config = ClassifierConfig(
            encoder=self.encoder_config(p),
            n_classes=len(self.label_names),
            aggregation=p["aggregation"],
            ngrams=p["ngrams"],
        )
        return self.init_embeddings(SequenceClassifier(config), p)

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        return ConfusionMetrics(len(self.label_names), split.labels.device)

    def stratify_by(self, pool: SequenceSplit) -> np.ndarray | None:
        return pool.labels.cpu().numpy()

    @classmethod
    def rebuild_model(cls, checkpoint: Mapping[str, Any]) -> nn.Module:
        return SequenceClassifier(ClassifierConfig.from_dict(checkpoint["model_config"]))

    @classmethod
    def predict_probabilities(
        cls, model: nn.Module, info: Mapping[str, Any], path: Path
    ) -> torch.Tensor:
        """Per line of ``path``: a text, or (feature models) its feature rows' numbers."""
        lines = read_lines(path)
        if not lines:
            return torch.zeros(0, len(info["label_names"]))
        if info.get("vocabulary") is None:
            inputs = encode_features(lines, dict(info))
        else:
            inputs = encode_texts(lines, dict(info))
        return softmax_of(model, *inputs)
