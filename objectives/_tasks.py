"""Tasks: what differs between text classification, NER, POS tagging and tabular data.

A task holds its data (tensorized once per process), names the hyperparameters it reads,
builds its model head from them, and makes its metric accumulator. Everything else -- the
training loop, the loss with padding ignored, the objective's suggest -> build -> train ->
report -> prune shape, schedules and folds -- is shared (:mod:`objectives._objective`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, get_args

import numpy as np
import torch
from torch import nn

from objectives._data import ClassificationData, SequenceSplit, concat_splits
from objectives._metrics import ConfusionMetrics, EntityMetrics, MetricAccumulator, TokenMetrics
from objectives._models import (
    Activation,
    Aggregation,
    Cell,
    CharEncoderConfig,
    CharEncoderKind,
    ClassifierConfig,
    EncoderConfig,
    MLPClassifier,
    MLPConfig,
    SequenceClassifier,
    SequenceTagger,
    TaggerConfig,
)
from objectives._schedules import ScheduleConfig, SchedulerName
from objectives._tabular import TabularData
from objectives._tagging_data import TaggingData
from objectives._training import OptimizerConfig, OptimizerName
from objectives.errors import ObjectiveError

TASKS = ("classification", "ner", "pos", "tabular")

MLP_MAX_LAYERS = 8
"""Most hidden layers of the tabular MLP (``hidden_size_1`` .. ``hidden_size_8``)."""

TRAINING_PARAMETERS: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 0.0,
    "epochs": None,
    "scheduler": "none",
    "step_size": 5,
    "gamma": 0.5,
    "milestones": "10,20",
    "pct_start": 0.3,
    "patience": 2,
    "warmup_epochs": 0,
}
"""Optimizer, batch and learning-rate schedule settings every task reads."""

_ENCODER_PARAMETERS: dict[str, Any] = {
    "cell": "gru",
    "hidden_size": 64,
    "num_layers": 1,
    "bidirectional": False,
    "dropout": 0.0,
    "embedding_dim": 64,
}
_TEXT_PARAMETERS: dict[str, Any] = {"min_freq": 1, "max_length": None}

CLASSIFICATION_PARAMETERS: dict[str, Any] = {
    **_ENCODER_PARAMETERS,
    "aggregation": "last",
    **TRAINING_PARAMETERS,
    **_TEXT_PARAMETERS,
}
"""Every hyperparameter the classification objective reads, with the value used when a
search space leaves it out (``epochs=None`` means the study's epoch budget)."""

TAGGING_PARAMETERS: dict[str, Any] = {
    **_ENCODER_PARAMETERS,
    "char_embedding_dim": 0,
    "char_encoder": "cnn",
    "char_hidden_size": 32,
    **TRAINING_PARAMETERS,
    **_TEXT_PARAMETERS,
}
"""Hyperparameters of the NER and POS taggers (``char_embedding_dim=0``: no characters)."""

TABULAR_PARAMETERS: dict[str, Any] = {
    "n_layers": 1,
    "hidden_size": 64,
    **{f"hidden_size_{i}": None for i in range(1, MLP_MAX_LAYERS + 1)},
    "activation": "relu",
    "dropout": 0.0,
    **TRAINING_PARAMETERS,
}
"""Hyperparameters of the tabular MLP; layer ``i`` is ``hidden_size_<i>`` wide, or
``hidden_size`` when that is not set."""

PARAMETER_CHOICES: dict[str, tuple[Any, ...]] = {
    "cell": get_args(Cell),
    "aggregation": get_args(Aggregation),
    "optimizer": get_args(OptimizerName),
    "bidirectional": (False, True),
    "char_encoder": get_args(CharEncoderKind),
    "activation": get_args(Activation),
    "scheduler": get_args(SchedulerName),
}
"""Accepted values of the categorical hyperparameters, checked when a space is built."""

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1", "loss"),
    "ner": ("f1", "precision", "recall", "accuracy", "loss"),
    "pos": ("accuracy", "top3_accuracy", "loss"),
    "tabular": ("accuracy", "macro_f1", "loss"),
}
"""Validation metrics of each task; the first is the default study metric."""

TASK_PARAMETERS: dict[str, dict[str, Any]] = {
    "classification": CLASSIFICATION_PARAMETERS,
    "ner": TAGGING_PARAMETERS,
    "pos": TAGGING_PARAMETERS,
    "tabular": TABULAR_PARAMETERS,
}


def optimizer_config(p: Mapping[str, Any]) -> OptimizerConfig:
    """Optimizer and batch settings from resolved parameters."""
    return OptimizerConfig(
        optimizer=p["optimizer"],
        lr=float(p["lr"]),
        weight_decay=float(p["weight_decay"]),
        batch_size=int(p["batch_size"]),
        grad_clip=float(p["grad_clip"]),
    )


def schedule_config(p: Mapping[str, Any]) -> ScheduleConfig:
    """Learning-rate schedule settings from resolved parameters."""
    return ScheduleConfig(
        scheduler=p["scheduler"],
        step_size=int(p["step_size"]),
        gamma=float(p["gamma"]),
        milestones=str(p["milestones"]),
        pct_start=float(p["pct_start"]),
        patience=int(p["patience"]),
        warmup_epochs=int(p["warmup_epochs"]),
    )


class Task(ABC):
    """One kind of problem: its data, hyperparameters, model head and metrics."""

    name: ClassVar[str]
    parameters: ClassVar[dict[str, Any]]
    checkpoint_kind: ClassVar[str]

    train: SequenceSplit
    validation: SequenceSplit
    test: SequenceSplit
    label_names: list[str]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Validation metrics this task reports (``loss`` included)."""
        return TASK_METRICS[self.name]

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults into a trial's parameters and reject names the task does not read."""
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ObjectiveError(
                f"hyperparameter {unknown[0]!r} is not used by the {self.name} objective; "
                f"accepted: {', '.join(self.parameters)}"
            )
        return {**self.parameters, **params}

    @abstractmethod
    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        """The model that resolved parameters ``p`` describe (with a ``config.to_dict()``)."""

    def view(self, split: SequenceSplit, p: Mapping[str, Any]) -> SequenceSplit:
        """``split`` as the model of ``p`` reads it (vocabulary cut-off, maximum length)."""
        return split

    def view_settings(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """The view's settings, saved with a checkpoint to read new inputs the same way."""
        return {}

    @abstractmethod
    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        """A fresh accumulator for one evaluation of ``split``."""

    @abstractmethod
    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        """Plain-typed information a saved model needs to read new inputs."""

    def folds(self, k: int, seed: int) -> list[tuple[SequenceSplit, SequenceSplit]]:
        """``k`` (train, validation) pairs over the training and validation rows together.

        The test split stays out, so cross-validation never sees it.
        """
        if k < 2:
            raise ObjectiveError(f"folds must be at least 2, but got folds={k}.")
        pool = concat_splits(self.train, self.validation)
        if len(pool) < k:
            raise ObjectiveError(f"cannot make {k} folds from {len(pool)} examples")
        order = torch.as_tensor(np.random.default_rng(seed).permutation(len(pool)))
        parts = order.tensor_split(k)
        pairs = []
        for index in range(k):
            rest = torch.cat([parts[j] for j in range(k) if j != index])
            pairs.append((pool.subset(rest.sort().values), pool.subset(parts[index].sort().values)))
        return pairs


class _RecurrentTask(Task):
    """Shared by tasks on the recurrent encoder: vocabulary and length views."""

    data: ClassificationData

    def __init__(self, data: ClassificationData) -> None:
        self.data = data
        self.train, self.validation, self.test = data.train, data.validation, data.test
        self.label_names = list(data.label_names)

    def encoder_config(self, p: Mapping[str, Any], extra_features: int = 0) -> EncoderConfig:
        return EncoderConfig(
            cell=p["cell"],
            hidden_size=int(p["hidden_size"]),
            num_layers=int(p["num_layers"]),
            bidirectional=bool(p["bidirectional"]),
            dropout=float(p["dropout"]),
            embedding_dim=int(p["embedding_dim"]),
            vocabulary_size=self.data.vocabulary_size(int(p["min_freq"]))
            if self.data.is_text
            else 0,
            n_features=self.data.n_features or 0,
            extra_features=extra_features,
        )

    def view_settings(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "min_freq": int(p["min_freq"]),
            "max_length": int(p["max_length"] or self.data.max_length),
        }

    def view(self, split: SequenceSplit, p: Mapping[str, Any]) -> SequenceSplit:
        return self.data.view(split, **self.view_settings(p))

    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        info = {**self.data.preprocessing(), **self.view_settings(p)}
        if info["vocabulary"] is not None:
            # Only the ids this model has embeddings for; rarer tokens read as unknown.
            size = model.config.encoder.vocabulary_size  # type: ignore[union-attr]
            info["vocabulary"] = info["vocabulary"][:size]
        return info


class ClassificationTask(_RecurrentTask):
    """One label per text (or per sequence of feature rows): recurrent encoder + pooling."""

    name = "classification"
    parameters = CLASSIFICATION_PARAMETERS
    checkpoint_kind = "sequence_classifier"

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        config = ClassifierConfig(
            encoder=self.encoder_config(p),
            n_classes=len(self.label_names),
            aggregation=p["aggregation"],
        )
        return SequenceClassifier(config)

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        return ConfusionMetrics(len(self.label_names), split.labels.device)


class TaggingTask(_RecurrentTask):
    """One tag per token (NER or POS): the same encoder, optional characters, a tag head."""

    parameters = TAGGING_PARAMETERS
    checkpoint_kind = "sequence_tagger"
    data: TaggingData

    def __init__(self, data: TaggingData, kind: str) -> None:
        if kind not in ("ner", "pos"):
            raise ObjectiveError(f"tagging task {kind!r} is not accepted; accepted: ner, pos")
        if not isinstance(data, TaggingData):
            raise ObjectiveError(
                f"task {kind!r} needs tagged sentences, but {data.source!r} was loaded as "
                "classification data; use --task classification"
            )
        if kind == "ner" and data.scheme is None:
            raise ObjectiveError(f"{data.source}: NER needs IOB tags (loaded as POS data)")
        super().__init__(data)
        self.name = kind  # type: ignore[misc]

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        chars = None
        if int(p["char_embedding_dim"]) > 0:
            chars = CharEncoderConfig(
                n_characters=len(self.data.characters or ()),
                embedding_dim=int(p["char_embedding_dim"]),
                hidden_size=int(p["char_hidden_size"]),
                kind=p["char_encoder"],
            )
        extra = 0 if chars is None else chars.output_size
        config = TaggerConfig(
            encoder=self.encoder_config(p, extra), n_tags=len(self.label_names), chars=chars
        )
        return SequenceTagger(config)

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        if self.name == "ner":
            assert self.data.scheme is not None
            return EntityMetrics(split, self.label_names, self.data.scheme)
        return TokenMetrics(split.labels.device, top_k=3)


def mlp_hidden_sizes(p: Mapping[str, Any]) -> tuple[int, ...]:
    """Widths of the MLP's hidden layers: ``hidden_size_<i>``, else ``hidden_size``."""
    n_layers = int(p["n_layers"])
    if not 0 <= n_layers <= MLP_MAX_LAYERS:
        raise ObjectiveError(
            f"n_layers must be between 0 and {MLP_MAX_LAYERS}, but got n_layers={n_layers}."
        )
    return tuple(int(p.get(f"hidden_size_{i}") or p["hidden_size"]) for i in range(1, n_layers + 1))


class TabularTask(Task):
    """One label per feature row: an MLP over standardized features."""

    name = "tabular"
    parameters = TABULAR_PARAMETERS
    checkpoint_kind = "mlp_classifier"

    def __init__(self, data: TabularData) -> None:
        if not isinstance(data, TabularData):
            raise ObjectiveError("task 'tabular' needs a CSV with a label column (TabularData)")
        self.data = data

        def split(x: np.ndarray, y: np.ndarray) -> SequenceSplit:
            return SequenceSplit(
                torch.as_tensor(x, dtype=torch.float32),
                torch.ones(len(y), dtype=torch.long),
                torch.as_tensor(y, dtype=torch.long),
                padded=False,
            )

        self.train = split(data.x_train, data.y_train)
        self.validation = split(data.x_validation, data.y_validation)
        self.test = split(data.x_test, data.y_test)
        self.label_names = list(data.label_names)

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        config = MLPConfig(
            n_features=self.data.n_features,
            n_classes=len(self.label_names),
            hidden_sizes=mlp_hidden_sizes(p),
            activation=p["activation"],
            dropout=float(p["dropout"]),
        )
        return MLPClassifier(config)

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        return ConfusionMetrics(len(self.label_names), split.labels.device)

    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        pre = self.data.preprocessor
        return {
            "label_names": list(self.label_names),
            "vocabulary": None,
            "n_features": self.data.n_features,
            "numeric_columns": [str(c) for c in pre.numeric_columns],
            "categorical_levels": {str(k): list(v) for k, v in pre.categorical_levels.items()},
            "feature_names": list(pre.feature_names),
            "mean": [float(v) for v in pre.mean],
            "std": [float(v) for v in pre.std],
            "source": self.data.source,
        }


def make_task(name: str, data: Any) -> Task:
    """The task ``name`` over loaded ``data``.

    Raises:
        ObjectiveError: An unknown task, or data of another task's kind.
    """
    if name == "classification":
        if isinstance(data, TaggingData) or not isinstance(data, ClassificationData):
            raise ObjectiveError(
                "task 'classification' needs texts with one label each; tagged sentences "
                "belong to --task ner or pos"
            )
        return ClassificationTask(data)
    if name in ("ner", "pos"):
        return TaggingTask(data, name)
    if name == "tabular":
        return TabularTask(data)
    raise ObjectiveError(f"task {name!r} is not known; accepted: {', '.join(TASKS)}")
