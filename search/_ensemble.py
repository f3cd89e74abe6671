"""The best K trials of a study as one model: their class probabilities averaged.

``hpsearch best --ensemble K`` scores it on the validation split next to the best trial
alone (and with ``--evaluate-test`` on the test split, computed once and stored, as a
single trial's test score is), and ``hpsearch predict --ensemble K`` labels new inputs with
it. The members are the study's K best completed trials by validation value, which keep their
models while K <= ``keep_checkpoints``. No epoch is trained for it: it costs K predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import storage
from objectives import Task, model_from_checkpoint, task_class
from objectives._ensemble import Member, ensemble_metrics
from search._checkpoints import CheckpointStore
from search._evaluate import trial_numbers
from search._study import load_task, open_study, stored_config
from search.errors import ConfigError, StudyError

ENSEMBLE_RESULTS_ATTR = "ensemble_test_results"
"""Study attribute: test scores of the ensembles scored so far, by their trials ("3,7,9")."""


def ensemble_trials(
    study: optuna.Study, checkpoints: CheckpointStore, size: int
) -> list[FrozenTrial]:
    """The ``size`` best completed trials of ``study``, each with its saved model.

    Raises:
        ConfigError: ``size`` below 1, or a study with several objectives (no one order).
        StudyError: Fewer completed trials than ``size``, or one of them without a model.
    """
    if size < 1:
        raise ConfigError(
            f"--ensemble takes the number of best trials to average (1 or more), not {size}"
        )
    if len(study.directions) > 1:
        raise ConfigError(
            f"study {study.study_name!r} optimizes {len(study.directions)} values, so it has no "
            "single order of best trials to average; an ensemble needs a one-metric study"
        )
    done = list(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done.sort(key=lambda t: (-t.value if maximize else t.value, t.number))  # type: ignore[operator]
    if len(done) < size:
        raise StudyError(
            f"study {study.study_name!r} has {len(done)} completed trials, fewer than the "
            f"{size} to average; run more trials or ask for --ensemble {max(1, len(done))}"
        )
    chosen = done[:size]
    without = [t.number for t in chosen if not checkpoints.has(t)]
    if without:
        raise StudyError(
            f"trial {trial_numbers(without)} of study {study.study_name!r}, among its {size} best, "
            f"has no saved model: a study keeps the models of its best keep_checkpoints trials "
            f"(set keep_checkpoints = {size} or more before the trials run, or ask for a "
            "smaller --ensemble)"
        )
    return chosen


def _members(task: Task, trials: list[FrozenTrial], checkpoints: CheckpointStore) -> list[Member]:
    members: list[Member] = []
    for trial in trials:
        model, info = model_from_checkpoint(checkpoints.load(trial))
        members.append((model, task.resolve(info["params"])))
    return members


def evaluate_ensemble(
    study_name: str,
    storage_url: str = storage.DEFAULT_STORAGE_URL,
    size: int = 3,
    *,
    test: bool = False,
    task: Task | None = None,
) -> dict[str, Any]:
    """Scores of the ensemble of the ``size`` best trials of ``study_name``.

    Args:
        study_name: Study name.
        storage_url: Where the study lives.
        size: Trials to average (the best ones by validation value).
        test: Also score it on the test split (stored in the study: scored once).
        task: The study's task already loaded by the caller (read here when ``None``).

    Returns:
        ``trials`` (their numbers, best first), ``size``, ``best`` (the best trial's number
        and value), ``validation`` (the ensemble's metrics on the validation split, or
        ``None`` with folds: every member trained on part of it), and with ``test`` also
        ``test`` (metrics and ``n_test``) and ``cached``.

    Raises:
        ConfigError, StudyError: As :func:`ensemble_trials`; the study is missing.
    """
    study = open_study(study_name, storage_url)
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    trials = ensemble_trials(study, checkpoints, size)
    config = stored_config(study)
    if task is None:
        task = load_task(config)
    members = _members(task, trials, checkpoints)
    result: dict[str, Any] = {
        "trials": [t.number for t in trials],
        "size": size,
        "best": {"number": trials[0].number, "value": trials[0].value},
        "validation": (
            None if config.folds > 1 else ensemble_metrics(task, members, task.validation)
        ),
    }
    if test:
        key = ",".join(str(t.number) for t in trials)
        stored = dict(study.user_attrs.get(ENSEMBLE_RESULTS_ATTR, {}))
        result["cached"] = key in stored
        if key not in stored:
            scores = {"n_test": len(task.test), **ensemble_metrics(task, members, task.test)}
            scores.pop("per_type_f1", None)
            # Re-read just before writing: another process may have stored scores meanwhile.
            latest = dict(study.user_attrs.get(ENSEMBLE_RESULTS_ATTR, {}))
            study.set_user_attr(ENSEMBLE_RESULTS_ATTR, {**latest, key: scores})
            stored[key] = scores
        result["test"] = stored[key]
    return result


def predict_with_ensemble(study_name: str, path: Path, storage_url: str, size: int) -> list[str]:
    """A label per input of ``path`` from the ``size`` best trials' averaged probabilities."""
    study = open_study(study_name, storage_url)
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    total = None
    names: list[str] | None = None
    for trial in ensemble_trials(study, checkpoints, size):
        checkpoint = checkpoints.load(trial)
        task = task_class(str(checkpoint.get("task_class") or checkpoint.get("task")))
        model, info = task.model_from_checkpoint(checkpoint)
        if names is not None and list(info["label_names"]) != names:
            raise StudyError(
                f"trial #{trial.number} of study {study_name!r} has other labels than the best "
                "trial's, so their probabilities cannot be averaged"
            )
        names = list(info["label_names"])
        probabilities = task.predict_probabilities(model, info, path)
        total = probabilities if total is None else total + probabilities
    assert total is not None and names is not None  # size >= 1
    return [names[i] for i in total.argmax(-1).tolist()]


__all__ = ["ENSEMBLE_RESULTS_ATTR", "ensemble_trials", "evaluate_ensemble", "predict_with_ensemble"]
