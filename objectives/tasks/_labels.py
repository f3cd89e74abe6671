"""Tasks with one label per input (classification, tabular): labels from probabilities."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from objectives.tasks._base import Task


class LabelPerInput(Task):
    """A task whose prediction for an input is its most probable class.

    :meth:`predict` is the argmax of :meth:`predict_probabilities`, so a single model and
    an ensemble (which averages the probabilities) label inputs the same way.
    """

    @classmethod
    def predict(cls, model: nn.Module, info: Mapping[str, Any], path: Path) -> list[str]:
        """A label per input of ``path``, by name."""
        return label_names(info, cls.predict_probabilities(model, info, path))

    @classmethod
    @abstractmethod
    def predict_probabilities(
        cls, model: nn.Module, info: Mapping[str, Any], path: Path
    ) -> torch.Tensor:
        """``[N, C]`` class probabilities per input of ``path``."""


def label_names(info: Mapping[str, Any], probabilities: torch.Tensor) -> list[str]:
    """The label of each row of ``[N, C]`` probabilities (its highest), by name."""
    names = info["label_names"]
    return [names[i] for i in probabilities.argmax(-1).tolist()]


@torch.no_grad()
def softmax_of(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``[N, C]`` class probabilities of a model with one label per input."""
    model.eval()
    return torch.softmax(model(*inputs).float(), dim=-1)
