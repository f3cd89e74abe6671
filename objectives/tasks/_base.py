"""The task interface: everything that differs between one kind of problem and another.

A task class names its metrics (and their directions), its hyperparameters with their
defaults, its default search space and its checkpoint kind; :meth:`Task.load` reads its data
once per process; an instance builds a model from parameters, scores a split and describes
what a saved model needs. The training loop, the objective's suggest -> build -> train ->
report -> prune shape, schedules and folds are shared (:mod:`objectives._objective`), and
``search`` only ever talks to this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, get_args

import numpy as np
import torch
from torch import nn

from objectives._metrics import MetricAccumulator
from objectives._mlp import Activation
from objectives._models import Aggregation, Cell, NgramOrder
from objectives._schedules import ScheduleConfig, SchedulerName
from objectives._tagger_model import CharEncoderKind
from objectives._training import OptimizerConfig, OptimizerName, evaluate
from objectives.data import SequenceSplit, SplitSettings, concat_splits
from objectives.errors import ObjectiveError
from objectives.tasks._derive import (
    DerivedSpace,
    batch_size_values,
    derivable,
    lr_spec,
    optimizer_values,
)


@dataclass(frozen=True)
class TaskConfig:
    """What is learned from which data (the ``[task]`` table of a study config).

    Attributes:
        name: A built-in task (``classification``, ``ner``, ``pos``, ``tabular``), an
            entry point of the ``hpsearch.tasks`` group, or ``module:Class``.
        data: Built-in dataset name, a file, or ``hf:NAME``.
        test_data: Held-back test file (optional).
        validation_data: File the trials are scored on (optional; a corpus's development
            split): then every training row trains and ``validation_fraction`` is unused.
        text_column: Text column of a table.
        label_column: Label column of a table.
        validation_fraction: Share of the training rows scored by trials (without
            ``validation_data``).
        test_fraction: Share of all rows held back when there is no test data.
        max_length: Longest sequence kept.
        tag_column: Tag column of a tagged file, or a Hugging Face column.
        format: File layout (classification: ``auto``, ``table``, ``trec``, ``ag_news``).
        vectors: Pretrained word vectors (GloVe / word2vec / fastText text file, ``.gz``
            too) for the text tasks; trials then search ``pretrained`` and
            ``freeze_embeddings``.
    """

    name: str = "classification"
    data: str = "digits"
    test_data: str | None = None
    validation_data: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    max_length: int = 400
    tag_column: str | int | None = None
    format: str = "auto"
    vectors: str | None = None

    def split(self, seed: int) -> SplitSettings:
        """The split settings of this task's data under the study's ``seed``."""
        return SplitSettings(seed, self.validation_fraction, self.test_fraction)


def field_defaults(
    cls: type, names: Iterable[str] | Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults of a dataclass's fields as hyperparameters.

    The dataclasses that build models, optimizers and schedules are the one source of the
    defaults a search space leaves out.

    Args:
        cls: The dataclass.
        names: The fields to take (all with a default when ``None``), in this order; a
            mapping renames them (``{"kind": "char_encoder"}``).
    """
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    if names is None:
        return defaults
    renames = names if isinstance(names, Mapping) else {name: name for name in names}
    return {renamed: defaults[name] for name, renamed in renames.items()}


TRAINING_PARAMETERS: dict[str, Any] = {
    **field_defaults(OptimizerConfig),
    "epochs": None,  # None: the study's epoch budget
    **field_defaults(ScheduleConfig),
}
"""Optimizer, batch and learning-rate schedule settings every built-in task reads."""

PARAMETER_CHOICES: dict[str, tuple[Any, ...]] = {
    "cell": get_args(Cell),
    "aggregation": get_args(Aggregation),
    "ngrams": get_args(NgramOrder),
    "optimizer": get_args(OptimizerName),
    "bidirectional": (False, True),
    "char_encoder": get_args(CharEncoderKind),
    "crf": (False, True),
    "pretrained": (False, True),
    "freeze_embeddings": (False, True),
    "activation": get_args(Activation),
    "scheduler": get_args(SchedulerName),
}
"""Accepted values of the categorical hyperparameters, checked when a space is built."""


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
    """One kind of problem: its data, hyperparameters, model, metrics and checkpoints.

    Subclasses set the class attributes and implement :meth:`load`, :meth:`default_space`,
    :meth:`build_model`, :meth:`new_metrics`, :meth:`preprocessing`, :meth:`rebuild_model`
    and :meth:`predict`; an instance holds the loaded splits.
    """

    name: ClassVar[str]
    """Short name, stored with trials and checkpoints."""
    metrics: ClassVar[tuple[str, ...]]
    """Validation metrics of every evaluation; the first is the default study metric."""
    minimized: ClassVar[frozenset[str]] = frozenset({"loss"})
    """Metrics where lower is better (every other one is maximized)."""
    parameters: ClassVar[dict[str, Any]]
    """Every hyperparameter the task reads, with the value used when a space leaves it out
    (``epochs = None`` means the study's epoch budget)."""
    choices: ClassVar[dict[str, tuple[Any, ...]]] = PARAMETER_CHOICES
    """Accepted values of categorical hyperparameters."""
    checkpoint_kind: ClassVar[str]
    """Names the model class a checkpoint holds."""
    formats: ClassVar[tuple[str, ...]] = ("auto",)
    """Accepted ``task.format`` values."""
    reads_tag_column: ClassVar[bool] = False
    """Whether ``task.tag_column`` means something to this task."""
    reads_vectors: ClassVar[bool] = False
    """Whether ``task.vectors`` (pretrained word vectors) means something to this task."""

    train: SequenceSplit
    validation: SequenceSplit
    test: SequenceSplit
    label_names: list[str]

    # -- what the study needs before any data is read ------------------------------------

    @classmethod
    def direction(cls, metric: str) -> str:
        """``minimize`` or ``maximize`` for one of :attr:`metrics`."""
        return "minimize" if metric in cls.minimized else "maximize"

    @classmethod
    @abstractmethod
    def default_space(cls, config: TaskConfig, epochs: int) -> dict[str, Any]:
        """The sensible default search space (a config's ``[space]`` narrows it)."""

    @classmethod
    def check_space(cls, config: TaskConfig, space: Mapping[str, Any]) -> None:
        """Refuse a space (config form, resolved) that ``config`` cannot serve, before any
        data is read; nothing by default (the text tasks refuse pretrained vectors without
        a file).

        Raises:
            ObjectiveError: One line naming the setting to change.
        """
        return None

    @classmethod
    def default_value(cls, name: str, config: TaskConfig) -> Any:
        """The value hyperparameter ``name`` takes when a trial leaves it out."""
        return cls.parameters.get(name)

    @classmethod
    @abstractmethod
    def load(cls, config: TaskConfig, split: SplitSettings) -> Task:
        """Read ``config``'s data (once per process) into a task instance.

        Raises:
            ObjectiveError: The data is missing, unreadable, or of another task's kind.
        """

    # -- the space, fitted to the loaded data -------------------------------------------

    def derive_space(
        self,
        space: Mapping[str, Any],
        *,
        given: Iterable[str],
        epochs: int,
        keep: Mapping[str, Sequence[Any]],
    ) -> DerivedSpace:
        """Dimensions of ``space`` fitted to this task's data, with the statistics behind them.

        Only dimensions not in ``given`` (the user's and the preset's ``[space]``) change, and
        every value in ``keep`` (the ``[baseline]``'s and the ``[[known_good]]`` ones') stays
        possible. By default the learning rate is bounded by the optimizers searched and the
        steps a trial has (see :func:`objectives.tasks._derive.lr_spec`).

        Args:
            space: The resolved space in config form (default space under the user's).
            given: Names the user set explicitly.
            epochs: The study's epoch budget per trial.
            keep: Per parameter, the values that must stay possible.
        """
        derived = DerivedSpace()
        train = getattr(self, "train", None)  # a task of one's own may keep its data apart
        if derivable(space, given, "lr", "float") and "optimizer" in self.parameters and train:
            spec, statistics = lr_spec(
                space["lr"],
                optimizers=optimizer_values(space, self.parameters["optimizer"]),
                n_train=len(train),
                batch_sizes=batch_size_values(space, self.parameters.get("batch_size", 64)),
                epochs=epochs,
                keep=keep.get("lr", ()),
            )
            if spec != dict(space["lr"]):
                derived.add("lr", spec, statistics)
        return derived

    # -- one trial -----------------------------------------------------------------------

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

    def trial_attrs(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """What a trial of parameters ``p`` records about its inputs (plain JSON types),
        such as the coverage of pretrained vectors; nothing by default."""
        return {}

    @abstractmethod
    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        """A fresh accumulator for one evaluation of ``split``."""

    def score(self, model: nn.Module, split: SequenceSplit, p: Mapping[str, Any]) -> dict[str, Any]:
        """Every metric of ``model`` on ``split`` (viewed as ``p`` reads it)."""
        viewed = self.view(split, p)
        return evaluate(model, viewed, metrics=self.new_metrics(viewed))

    def stratify_by(self, pool: SequenceSplit) -> np.ndarray | None:
        """Labels whose classes every fold should hold, or ``None`` for plain folds."""
        return None

    def folds(self, k: int, seed: int) -> list[tuple[SequenceSplit, SequenceSplit]]:
        """``k`` (train, validation) pairs over the training and validation rows together.

        Stratified by :meth:`stratify_by` when it gives labels, so small classes appear in
        every fold. The test split stays out, so cross-validation never sees it.
        """
        from sklearn.model_selection import KFold, StratifiedKFold

        if k < 2:
            raise ObjectiveError(f"folds must be at least 2, but got folds={k}.")
        pool = concat_splits(self.train, self.validation)
        if len(pool) < k:
            raise ObjectiveError(f"cannot make {k} folds from {len(pool)} examples")
        labels = self.stratify_by(pool)
        rows = np.arange(len(pool))
        if labels is not None and np.unique(labels, return_counts=True)[1].min() >= k:
            splits = StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, labels)
        else:  # a class with fewer than k rows cannot be in every fold
            splits = KFold(k, shuffle=True, random_state=seed).split(rows)
        return [
            (pool.subset(torch.as_tensor(train)), pool.subset(torch.as_tensor(validation)))
            for train, validation in splits
        ]

    # -- saved models --------------------------------------------------------------------

    @abstractmethod
    def preprocessing(self, model: nn.Module, p: Mapping[str, Any]) -> dict[str, Any]:
        """Plain-typed information a saved model needs to read new inputs."""

    def model_config(self, model: nn.Module) -> dict[str, Any]:
        """The model's shape as plain data, saved so :meth:`rebuild_model` can rebuild it.

        By default the model's ``config``: its ``to_dict()``, or the dataclass's fields.
        """
        config: Any = getattr(model, "config", None)
        if hasattr(config, "to_dict"):
            return dict(config.to_dict())
        if is_dataclass(config) and not isinstance(config, type):
            return asdict(config)
        raise ObjectiveError(
            f"task {self.name!r}: the model has no dataclass `config` to save; override "
            "Task.model_config to describe it"
        )

    @classmethod
    @abstractmethod
    def rebuild_model(cls, checkpoint: Mapping[str, Any]) -> nn.Module:
        """An untrained model of the shape a checkpoint's ``model_config`` describes."""

    @classmethod
    def model_from_checkpoint(
        cls, checkpoint: Mapping[str, Any]
    ) -> tuple[nn.Module, dict[str, Any]]:
        """The model a checkpoint holds, in eval mode, and what is needed to use it."""
        model = cls.rebuild_model(checkpoint)
        model.load_state_dict(checkpoint["state_dict"])
        model.eval()
        info = {
            **checkpoint["preprocessing"],
            "params": checkpoint["params"],
            "metrics": checkpoint["metrics"],
            "kind": checkpoint.get("kind", cls.checkpoint_kind),
            "task": checkpoint.get("task", cls.name),
        }
        return model, info

    @classmethod
    @abstractmethod
    def predict(cls, model: nn.Module, info: Mapping[str, Any], path: Path) -> list[str]:
        """One line of output per input in ``path`` (a label, or a tag per token)."""

    @classmethod
    def predict_probabilities(
        cls, model: nn.Module, info: Mapping[str, Any], path: Path
    ) -> torch.Tensor:
        """``[N, C]`` class probabilities per input of ``path`` (what an ensemble averages;
        :meth:`predict`'s labels are their argmax, ``info["label_names"]``).

        Raises:
            ObjectiveError: The task has no label per input to give probabilities for.
        """
        raise ObjectiveError(
            f"task {cls.name!r} gives no class probabilities per input, so its models cannot "
            "be averaged in an ensemble (classification, tabular and LabelPerInput tasks can)"
        )
