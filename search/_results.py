"""A study's results read back: its best trial, that trial's model, checkpoint and test
score, and the study's status (counts, budget, best value, sampler phase)."""

from __future__ import annotations

from typing import Any

import torch
from optuna.trial import FrozenTrial

import storage
from objectives import model_from_checkpoint
from search._budget import study_phase
from search._checkpoints import CheckpointStore
from search._derived import DERIVED_ATTR, derived_lines
from search._evaluate import evaluate_trials
from search._resume import CONFIG_ATTR, change_lines
from search._study import CONFIRM_OF_ATTR, directions_of, open_study
from search._worker import count_states
from search.errors import StudyError


def best_trial(study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL) -> FrozenTrial:
    """The best trial of a single-objective study.

    Args:
        study_name: Study name.
        storage_url: Where the study lives.

    Returns:
        The Optuna ``FrozenTrial``.

    Raises:
        StudyError: The study is missing, has no completed trial, or has several objectives.
    """
    study = open_study(study_name, storage_url)
    if len(study.directions) > 1:
        raise StudyError(
            f"study {study_name!r} has {len(study.directions)} objectives, so no single best "
            "trial; read its Pareto front with optuna.load_study(...).best_trials"
        )
    try:
        return study.best_trial
    except ValueError:
        raise StudyError(f"study {study_name!r} has no completed trial yet") from None


def load_best_model(
    study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of the best trial, in eval mode, and what is needed to use it.

    Works for every task: the checkpoint's ``kind`` picks the model class (classifier,
    tagger or MLP), and the file is read with ``torch.load(weights_only=True)``.

    Returns:
        ``(model, info)``; ``info`` has ``kind``, ``task``, ``label_names``, ``params``,
        ``metrics``, ``trial_number`` and the task's preprocessing (``vocabulary``,
        ``min_freq``, ``max_length`` for text; ``characters`` and ``scheme`` for taggers;
        ``feature_names``, ``mean``, ``std`` for the MLP).
    """
    trial, checkpoint = _best_checkpoint(study_name, storage_url)
    model, info = model_from_checkpoint(checkpoint)
    info["trial_number"] = trial.number
    return model, info


def load_best_checkpoint(
    study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL
) -> dict[str, Any]:
    """The checkpoint dict the best trial saved, as it was saved.

    For a plain objective that returned ``(value, checkpoint)`` this is its ``checkpoint``
    (read with ``torch.load(weights_only=True)``); a task's is what
    :func:`load_best_model` rebuilds its model from.

    Raises:
        StudyError: No completed trial, or the best one saved no checkpoint.
    """
    return _best_checkpoint(study_name, storage_url)[1]


def _best_checkpoint(study_name: str, storage_url: str) -> tuple[FrozenTrial, dict[str, Any]]:
    trial = best_trial(study_name, storage_url)
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    return trial, checkpoints.load(trial)


def evaluate_best_on_test(
    study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL
) -> dict[str, Any]:
    """Score the best trial's model on the held-back test split, once.

    The result is stored in the study (user attribute ``test_results``, by trial number) and
    returned from there on later calls, so the test split is never used to choose.
    """
    trial = best_trial(study_name, storage_url)
    return evaluate_trials(study_name, [trial.number], storage_url)[0]


def study_status(study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL) -> dict[str, Any]:
    """Counts by state, the budget and the best value so far."""
    study = open_study(study_name, storage_url)
    counts = count_states(study)
    config = study.user_attrs.get(CONFIG_ATTR, {})
    best: Any = None
    if counts["COMPLETE"]:
        if len(study.directions) > 1:
            best = [list(t.values) for t in study.best_trials]
        else:
            best = study.best_value
    sampler = config.get("sampler", {"name": "tpe"})
    if CONFIRM_OF_ATTR in study.user_attrs:  # its workers run the queued repeats, no sampler
        phase = f"queued repeats only (confirming study {study.user_attrs[CONFIRM_OF_ATTR]!r})"
    else:
        phase = study_phase(study, sampler, config.get("n_trials")).describe(
            str(sampler.get("name", "tpe"))
        )
    return {
        "study": study_name,
        "directions": directions_of(study),
        "metric": config.get("metric"),
        "budget": config.get("n_trials"),
        "counts": {k: v for k, v in counts.items() if v},
        "best_value": best,
        "config_changes": change_lines(study),
        "derived_space": derived_lines(study.user_attrs.get(DERIVED_ATTR, {})),
        "phase": phase,
    }


__all__ = [
    "best_trial",
    "evaluate_best_on_test",
    "load_best_checkpoint",
    "load_best_model",
    "study_status",
]
