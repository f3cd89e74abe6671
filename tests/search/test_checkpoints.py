"""CheckpointStore.prune: only the best few keep a checkpoint, reading only what changed."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

import storage
from search._checkpoints import CheckpointStore


def _finish(study: optuna.Study, store: CheckpointStore, value: float | list[float]) -> int:
    trial = study.ask()
    store.save(trial, {"value": torch.tensor(value)})
    study.tell(trial, value)
    store.prune(study)
    return trial.number


def _kept(store: CheckpointStore, study: optuna.Study) -> set[int]:
    kept = set()
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        try:
            store.load(trial)
        except Exception:  # noqa: BLE001  # removed: not among the best
            continue
        kept.add(trial.number)
    return kept


def test_only_the_best_keep_their_checkpoints_across_workers(storage_url, tmp_path: Path):
    backend = storage.open_storage(storage_url)
    study = optuna.create_study(storage=backend, direction="maximize")
    # Two workers with their own stores on the same folder, finishing trials in turn.
    first, second = (
        CheckpointStore(tmp_path / "artifacts", keep=2),
        CheckpointStore(tmp_path / "artifacts", keep=2),
    )
    values = [0.5, 0.9, 0.1, 0.7, 0.95, 0.2, 0.8]
    numbers = [_finish(study, (first, second)[i % 2], v) for i, v in enumerate(values)]
    assert _kept(first, study) == {numbers[1], numbers[4]}  # 0.9 and 0.95
    assert len(list((tmp_path / "artifacts").iterdir())) == 2


def test_a_trial_running_during_a_prune_is_judged_when_it_finishes(sqlite_url, tmp_path: Path):
    study = optuna.create_study(storage=storage.open_storage(sqlite_url), direction="minimize")
    store = CheckpointStore(tmp_path / "artifacts", keep=1)
    running = study.ask()
    store.save(running, {"w": torch.zeros(1)})
    _finish(study, store, 0.5)  # the running trial is not finished yet: nothing to judge
    _finish(study, store, 0.4)
    study.tell(running, 0.1)
    _finish(study, store, 0.3)
    assert _kept(store, study) == {running.number}


def test_prune_reads_every_trial_once_then_only_new_ones(sqlite_url, tmp_path: Path, monkeypatch):
    study = optuna.create_study(storage=storage.open_storage(sqlite_url), direction="maximize")
    store = CheckpointStore(tmp_path / "artifacts", keep=3)
    for value in range(5):
        _finish(study, store, float(value))
    reads: list[str] = []
    backend = type(study._storage)
    for name in ("get_all_trials", "get_trial"):
        original = getattr(backend, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(backend, name, counted)
    for value in range(5, 25):
        trial = study.ask()
        store.save(trial, {"value": torch.tensor(float(value))})
        study.tell(trial, float(value))
        reads.clear()  # only what prune itself reads counts
        store.prune(study)
        assert reads == ["get_trial"]  # the one new trial, never the whole study
    assert _kept(store, study) == {22, 23, 24}


def test_a_pareto_front_keeps_every_trial_on_it(sqlite_url, tmp_path: Path):
    study = optuna.create_study(
        storage=storage.open_storage(sqlite_url), directions=["maximize", "minimize"]
    )
    store = CheckpointStore(tmp_path / "artifacts", keep=1)
    points = [[0.5, 5.0], [0.9, 9.0], [0.4, 6.0], [0.6, 4.0], [0.95, 9.5]]
    numbers = [_finish(study, store, p) for p in points]
    # [0.5, 5] is dominated by [0.6, 4]; [0.4, 6] by both; the rest trade off.
    assert _kept(store, study) == {numbers[1], numbers[3], numbers[4]}


@pytest.mark.parametrize("keep", [1, 3])
def test_the_best_model_still_loads(sqlite_url, tmp_path: Path, keep: int):
    study = optuna.create_study(storage=storage.open_storage(sqlite_url), direction="maximize")
    store = CheckpointStore(tmp_path / "artifacts", keep=keep)
    for value in [0.3, 0.8, 0.5, 0.6]:
        _finish(study, store, value)
    assert float(store.load(study.best_trial)["value"]) == pytest.approx(0.8)
