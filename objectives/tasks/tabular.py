"""Tabular classification: one label per CSV row, an MLP over standardized features."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import torch
from torch import nn

from objectives._metrics import ConfusionMetrics, MetricAccumulator
from objectives._mlp import MLPClassifier, MLPConfig
from objectives.data import (
    SequenceSplit,
    SplitSettings,
    TabularData,
    TabularPreprocessor,
    load_tabular_builtin,
    load_tabular_csv,
)
from objectives.data._tabular import BuiltinTabular
from objectives.errors import ObjectiveError
from objectives.tasks._base import TRAINING_PARAMETERS, Task, TaskConfig, field_defaults
from objectives.tasks._labels import LabelPerInput, softmax_of
from objectives.tasks._spaces import optimizer_space, schedule_space

MLP_MAX_LAYERS = 8
"""Most hidden layers a trial may ask for (``hidden_size_1`` .. ``hidden_size_8``)."""

DEFAULT_SPACE_LAYERS = 4
"""Most hidden layers the default space searches (a config's ``[space]`` may go further)."""

TABULAR_PARAMETERS: dict[str, Any] = {
    "n_layers": 1,
    "hidden_size": field_defaults(MLPConfig)["hidden_sizes"][0],
    **{f"hidden_size_{i}": None for i in range(1, MLP_MAX_LAYERS + 1)},
    **field_defaults(MLPConfig, ["activation", "dropout"]),
    **TRAINING_PARAMETERS,
}
"""Hyperparameters of the tabular MLP; layer ``i`` is ``hidden_size_<i>`` wide, or
``hidden_size`` when that is not set."""

_TAGGED_SUFFIXES = (".conllu", ".conllu.gz", ".iob", ".iob.gz")


def mlp_hidden_sizes(p: Mapping[str, Any]) -> tuple[int, ...]:
    """Widths of the MLP's hidden layers: ``hidden_size_<i>``, else ``hidden_size``."""
    n_layers = int(p["n_layers"])
    if not 0 <= n_layers <= MLP_MAX_LAYERS:
        raise ObjectiveError(
            f"n_layers must be between 0 and {MLP_MAX_LAYERS}, but got n_layers={n_layers}."
        )
    return tuple(int(p.get(f"hidden_size_{i}") or p["hidden_size"]) for i in range(1, n_layers + 1))


def _split(x: np.ndarray, y: np.ndarray) -> SequenceSplit:
    return SequenceSplit(
        torch.as_tensor(x, dtype=torch.float32),
        torch.ones(len(y), dtype=torch.long),
        torch.as_tensor(y, dtype=torch.long),
        padded=False,
    )


class TabularTask(LabelPerInput):
    """One label per feature row: an MLP over standardized features."""

    name = "tabular"
    metrics = ("accuracy", "macro_f1", "loss")
    parameters = TABULAR_PARAMETERS
    checkpoint_kind = "mlp_classifier"

    @classmethod
    def default_space(cls, config: TaskConfig, epochs: int) -> dict[str, Any]:
        layers = DEFAULT_SPACE_LAYERS
        space: dict[str, Any] = {"n_layers": {"type": "int", "low": 1, "high": layers}}
        for layer in range(1, layers + 1):
            space[f"hidden_size_{layer}"] = {
                "type": "int",
                "low": 16,
                "high": 512,
                "log": True,
                "when": {"n_layers": list(range(layer, layers + 1))},
            }
        space["activation"] = {"type": "categorical", "choices": ["relu", "tanh", "gelu"]}
        space["dropout"] = {"type": "float", "low": 0.0, "high": 0.5}
        return {**space, **optimizer_space(3e-2, [32, 64, 128, 256]), **schedule_space(epochs)}

    @classmethod
    def check_space(cls, config: TaskConfig, space: Mapping[str, Any]) -> None:
        """Refuse a test or validation file: the tabular task splits its one CSV itself
        (a given file would otherwise be ignored without a word)."""
        given = [
            flag
            for flag, value in (
                ("--test-data", config.test_data),
                ("--validation-data", config.validation_data),
            )
            if value is not None
        ]
        if given:
            raise ObjectiveError(
                f"task 'tabular' does not read {' or '.join(given)} (got "
                f"{config.test_data or config.validation_data!r}): it holds back its own test "
                "and validation rows from --data; leave the option out"
            )

    @classmethod
    def load(cls, config: TaskConfig, split: SplitSettings) -> Task:
        if config.data in get_args(BuiltinTabular):
            return cls(load_tabular_builtin(config.data, split))  # type: ignore[arg-type]
        if config.data.lower().endswith(_TAGGED_SUFFIXES):
            raise ObjectiveError(
                f"task 'tabular' needs a CSV with a label column, but {config.data!r} is a "
                "tagged corpus; use --task ner or pos"
            )
        return cls(load_tabular_csv(config.data, config.label_column, split))

    def __init__(self, data: TabularData) -> None:
        if not isinstance(data, TabularData):
            raise ObjectiveError("task 'tabular' needs a CSV with a label column (TabularData)")
        self.data = data
        self.train = _split(data.x_train, data.y_train)
        self.validation = _split(data.x_validation, data.y_validation)
        self.test = _split(data.x_test, data.y_test)
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

    def stratify_by(self, pool: SequenceSplit) -> np.ndarray | None:
        return pool.labels.cpu().numpy()

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

    @classmethod
    def rebuild_model(cls, checkpoint: Mapping[str, Any]) -> nn.Module:
        return MLPClassifier(MLPConfig.from_dict(checkpoint["model_config"]))

    @classmethod
    def predict_probabilities(
        cls, model: nn.Module, info: Mapping[str, Any], path: Path
    ) -> torch.Tensor:
        """Per row of a CSV with the training data's feature columns (and header)."""
        frame = pd.read_csv(path, encoding="utf-8-sig")
        levels = dict(info["categorical_levels"])
        missing = [c for c in [*info["numeric_columns"], *levels] if c not in frame.columns]
        if missing:
            raise ObjectiveError(
                f"{path}: the model reads columns {', '.join(map(repr, missing))}, which the "
                f"file lacks; its columns: {', '.join(map(str, frame.columns))}"
            )
        preprocessor = TabularPreprocessor(
            list(info["numeric_columns"]),
            levels,
            list(info["feature_names"]),
            np.asarray(info["mean"]),
            np.asarray(info["std"]),
        )
        return softmax_of(model, torch.as_tensor(preprocessor.transform(frame)))
