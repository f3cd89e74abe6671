"""Trial checkpoints in an Optuna artifact store, keeping only the best few per study."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.errors import StudyError

logger = logging.getLogger("hpsearch.checkpoints")

CHECKPOINT_ATTR = "checkpoint_artifact_id"
# A torch.save file is a zip archive only torch reads; no registered type names it.
CHECKPOINT_MIMETYPE = "application/octet-stream"


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
        self._seen: dict[int, _SeenTrials] = {}  # by study id: what prune has read

    def save(self, trial: optuna.Trial, checkpoint: dict[str, Any]) -> str:
        """Upload ``checkpoint`` as an artifact of the running ``trial`` and record where it
        is (a write of its own); returns its id."""
        attrs = self.upload(trial, checkpoint)
        trial.set_user_attr(CHECKPOINT_ATTR, attrs[CHECKPOINT_ATTR])
        return attrs[CHECKPOINT_ATTR]

    def upload(self, trial: optuna.Trial, checkpoint: dict[str, Any]) -> dict[str, str]:
        """Upload ``checkpoint`` as an artifact of the running ``trial``.

        Returns:
            The user attribute that says where it is (:data:`CHECKPOINT_ATTR`), for the
            caller to store with the trial's other attributes in one write.
        """
        fd, path = tempfile.mkstemp(prefix=f"trial-{trial.number}-", suffix=".pt")
        os.close(fd)
        try:
            torch.save(checkpoint, path)
            # Named explicitly: guessed from ".pt" it would be a SNES "page table".
            artifact_id = upload_artifact(
                artifact_store=self.store,
                file_path=path,
                study_or_trial=trial,
                mimetype=CHECKPOINT_MIMETYPE,
            )
        finally:
            os.unlink(path)
        return {CHECKPOINT_ATTR: artifact_id}

    def has(self, trial: FrozenTrial) -> bool:
        """Whether ``trial`` saved a checkpoint that is still in the store (not pruned)."""
        artifact_id = trial.user_attrs.get(CHECKPOINT_ATTR)
        if artifact_id is None:
            return False
        try:
            self.store.open_reader(artifact_id).close()
        except ArtifactNotFound:
            return False
        return True

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

        Reads only what changed since this store's last call on ``study``: the trials
        created since, and those that were still running or waiting then. A trial that
        drops out of the best (or off the front) never returns, so the best of the
        checkpoints still kept and the newly completed trials is the best of the study.
        """
        seen = self._seen.setdefault(study._study_id, _SeenTrials())
        candidates = dict(seen.kept)
        for trial in seen.finished_since(study):
            if trial.state == TrialState.COMPLETE and CHECKPOINT_ATTR in trial.user_attrs:
                candidates[trial.number] = trial
        keep = _best_numbers(list(candidates.values()), seen.directions, self.keep)
        for number, trial in candidates.items():
            if number not in keep:
                with contextlib.suppress(ArtifactNotFound):  # another worker removed it first
                    self.store.remove(trial.user_attrs[CHECKPOINT_ATTR])
        seen.kept = {number: candidates[number] for number in keep}


@dataclass
class _SeenTrials:
    """What one store has read of one study: where to go on, and what to look at again."""

    next_number: int = 0
    unfinished: set[int] = field(default_factory=set)
    kept: dict[int, FrozenTrial] = field(default_factory=dict)
    directions: list[StudyDirection] = field(default_factory=list)

    def finished_since(self, study: optuna.Study) -> list[FrozenTrial]:
        """Trials that finished since the last call (every finished one on the first)."""
        backend = study._storage
        if not self.directions:
            self.directions = list(study.directions)
            trials = study.get_trials(deepcopy=False)  # first call: one read of everything
            count = len(trials)
        else:
            # Trial numbers run 0, 1, 2, ... in a study: look up the next ones until one is
            # missing (BaseStorage.get_n_trials would read every trial to count them).
            trials = [
                backend.get_trial(
                    backend.get_trial_id_from_study_id_trial_number(study._study_id, number)
                )
                for number in sorted(self.unfinished)
            ]
            count = self.next_number
            while True:
                try:
                    trial_id = backend.get_trial_id_from_study_id_trial_number(
                        study._study_id, count
                    )
                except KeyError:
                    break
                trials.append(backend.get_trial(trial_id))
                count += 1
        self.next_number = max(self.next_number, count)
        self.unfinished = {t.number for t in trials if not t.state.is_finished()}
        return [t for t in trials if t.state.is_finished()]


def _best_numbers(
    trials: list[FrozenTrial], directions: list[StudyDirection], keep: int
) -> set[int]:
    """Numbers of the best ``keep`` trials, or of the Pareto front with several objectives."""
    signs = [1.0 if d == StudyDirection.MAXIMIZE else -1.0 for d in directions]
    scores = {
        t.number: [sign * float(v) for sign, v in zip(signs, t.values, strict=True)] for t in trials
    }
    if len(directions) == 1:
        ranked = sorted(scores, key=lambda n: scores[n][0], reverse=True)
        return set(ranked[:keep])

    def dominates(a: list[float], b: list[float]) -> bool:
        pairs = list(zip(a, b, strict=True))
        return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)

    def dominated(b: list[float]) -> bool:
        return any(dominates(a, b) for a in scores.values())

    return {number for number, values in scores.items() if not dominated(values)}
