"""The tabular task's model: fully connected layers over a standardized feature row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import torch
from torch import nn

from objectives._models import check_at_least, check_choice
from objectives.errors import ObjectiveError

Activation = Literal["relu", "tanh", "gelu"]


@dataclass(frozen=True)
class MLPConfig:
    """Shape of an :class:`MLPClassifier` for tabular rows (saved with its checkpoint)."""

    n_features: int
    n_classes: int
    hidden_sizes: tuple[int, ...] = (64,)
    activation: Activation = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_choice("activation", self.activation, get_args(Activation))
        check_at_least("n_features", self.n_features, 1)
        check_at_least("n_classes", self.n_classes, 2)
        for index, size in enumerate(self.hidden_sizes, start=1):
            check_at_least(f"hidden_size_{index}", size, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ObjectiveError(f"dropout must be in [0, 1), but got dropout={self.dropout}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so checkpoints load with ``torch.load(weights_only=True)``."""
        values = asdict(self)
        values["hidden_sizes"] = list(self.hidden_sizes)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MLPConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**values, "hidden_sizes": tuple(values["hidden_sizes"])})


_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLPClassifier(nn.Module):
    """Fully connected layers over a standardized feature row."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.n_features
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), _ACTIVATIONS[config.activation]()]
            layers.append(nn.Dropout(config.dropout))
            width = size
        layers.append(nn.Linear(width, config.n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``[B, C]`` for ``[B, F]`` rows (``lengths`` is ignored)."""
        return self.layers(inputs)
