"""Predictions of a study's best model for the inputs in a file (``hpsearch predict``)."""

from __future__ import annotations

from pathlib import Path

import storage
from objectives import task_class
from search._checkpoints import CheckpointStore
from search._results import best_trial
from search.errors import ConfigError


def predict_file(
    study_name: str,
    input_path: str | Path,
    storage_url: str = storage.DEFAULT_STORAGE_URL,
    *,
    ensemble: int | None = None,
) -> list[str]:
    """One output line per input line (or CSV row) of ``input_path``, from the best model
    (with ``ensemble=K``, from the K best trials' averaged class probabilities).

    The best trial's task reads the file its own way: a classifier takes a text per line
    (a model over feature rows: the numbers of one example per line), a tagger a sentence
    of whitespace-separated tokens per line and answers a tag per token, the tabular MLP a
    CSV with the training data's columns.

    Raises:
        ConfigError: The input file does not exist.
        StudyError: The study is missing or has no completed trial.
    """
    path = Path(input_path)
    if not path.is_file():
        raise ConfigError(f"input file {str(path)!r} does not exist")
    if ensemble is not None:
        from search._ensemble import predict_with_ensemble

        return predict_with_ensemble(study_name, path, storage_url, ensemble)
    trial = best_trial(study_name, storage_url)
    checkpoint = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name).load(trial)
    task = task_class(str(checkpoint.get("task_class") or checkpoint.get("task")))
    model, info = task.model_from_checkpoint(checkpoint)
    return task.predict(model, info, path)
