"""How a dataset is split: one settings object every loader and task reads."""

from __future__ import annotations

from dataclasses import dataclass

from objectives.errors import ObjectiveError


@dataclass(frozen=True)
class SplitSettings:
    """Where the train / validation / test boundaries fall.

    Attributes:
        seed: Seed of every split (and of cross-validation folds): same seed, same rows.
        validation_fraction: Share of the training rows the trials are scored on.
        test_fraction: Share of all rows held back for ``best --evaluate-test`` when no test
            data is given.
    """

    seed: int = 0
    validation_fraction: float = 0.2
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ObjectiveError(f"{name} must be between 0 and 1, but got {value}")


DEFAULT_SPLIT = SplitSettings()
"""Seed 0, 20% validation, 20% test: the loaders' default."""
