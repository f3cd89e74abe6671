"""Create (or resume) a study from what the user gave, its space fitted to the data once.

What ``hpsearch create`` does, and what ``hpsearch slurm submit --config`` does before it
submits an array, so a study made for a cluster is the one ``create`` would make: its
config resolved over a stored one, its space fitted to the training data, the fit stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from search._config import StudyConfig
from search._derived import fit_to_study
from search._resume import resolve_config
from search._study import create_study
from storage import StorageOpener


def prepare_study(
    layers: Sequence[Mapping[str, Any]],
    opener: StorageOpener,
    *,
    enqueue_baseline: bool = False,
    update_config: bool = False,
) -> tuple[StudyConfig, optuna.Study]:
    """Resolve ``layers`` (see :func:`search._presets.config_layers`) and create the study.

    Raises:
        ConfigError, StudyError, ObjectiveError: As ``hpsearch create`` reports them;
            nothing is created.
    """
    config, derived = fit_to_study(
        resolve_config(layers, update_config=update_config, opener=opener), opener
    )
    created = create_study(
        config,
        opener(config.storage),
        enqueue_baseline=enqueue_baseline,
        update_config=update_config,
        derived_space=derived,
    )
    return config, created
