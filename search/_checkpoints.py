"""Trial checkpoints in an Optuna artifact store, keeping only the best few per study."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from search.errors import StudyError

logger = logging.getLogger("hpsearch.checkpoints")

CHECKPOINT_ATTR = "checkpoint_artifact_id"


class CheckpointStore:
    """Saves ``state_dict`` + config dicts as artifacts of their trials.

    Files live under ``directory`` (an Optuna ``FileSystemArtifactStore``), so
    optuna-dashboard pointed at the same folder lists them too.

    Args:
        directory: Folder of the artifact store; created when missing.
        keep: How many of the study's best trials keep their checkpoints.
    """

    def __init__(self, directory: str | Path, keep: int = 3) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = FileSystemArtifactStore(str(self.directory))
        self.keep = keep

    def save(self, trial: optuna.Trial, checkpoint: dict[str, Any]) -> str:
        """Upload ``checkpoint`` as an artifact of the running ``trial``; returns its id."""
        fd, path = tempfile.mkstemp(prefix=f"trial-{trial.number}-", suffix=".pt")
        os.close(fd)
        try:
            torch.save(checkpoint, path)
            artifact_id = upload_artifact(
                artifact_store=self.store, file_path=path, study_or_trial=trial
            )
        finally:
            os.unlink(path)
        trial.set_user_attr(CHECKPOINT_ATTR, artifact_id)
        return artifact_id

    def load(self, trial: FrozenTrial) -> dict[str, Any]:
        """The checkpoint dict of a finished trial (tensors and plain types only).

        Raises:
            StudyError: The trial saved no checkpoint, or it was removed as not among the best.
        """
        artifact_id = trial.user_attrs.get(CHECKPOINT_ATTR)
        if artifact_id is None:
            raise StudyError(
                f"trial {trial.number} has no saved model (state {trial.state.name}); "
                "only completed trials save one"
            )
        try:
            with self.store.open_reader(artifact_id) as reader:
                payload = reader.read()
        except ArtifactNotFound:
            raise StudyError(
                f"the model of trial {trial.number} is not in {str(self.directory)!r}: only the "
                f"best {self.keep} trials keep theirs, or the folder moved (set HPSEARCH_ARTIFACTS)"
            ) from None
        return torch.load(io.BytesIO(payload), weights_only=True)

    def prune(self, study: optuna.Study) -> None:
        """Remove checkpoints of completed trials that are no longer among the best ``keep``.

        For a multi-objective study every trial on the Pareto front keeps its checkpoint.
        Safe to call from several workers at once: a checkpoint already removed is skipped.
        """
        completed = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if CHECKPOINT_ATTR in t.user_attrs
        ]
        if len(study.directions) > 1:
            keep = {t.number for t in study.best_trials}
        else:
            sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
            ranked = sorted(completed, key=lambda t: sign * float(t.value or 0.0), reverse=True)
            keep = {t.number for t in ranked[: self.keep]}
        for trial in completed:
            if trial.number in keep:
                continue
            for meta in get_all_artifact_meta(trial, storage=study._storage):
                with contextlib.suppress(ArtifactNotFound):  # another worker removed it first
                    self.store.remove(meta.artifact_id)
