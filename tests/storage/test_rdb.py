"""Queries that go to a study's database directly, under Optuna's cache."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages import RDBStorage

import storage
from storage._rdb import rdb_backend


def test_the_database_is_found_under_optunas_cache(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/a.db")
    assert type(study._storage) is not RDBStorage  # wrapped by create_study
    assert isinstance(rdb_backend(study._storage), RDBStorage)
    journal = optuna.create_study(storage=storage.open_storage(f"journal://{tmp_path}/a.log"))
    assert rdb_backend(journal._storage) is None
    assert rdb_backend(optuna.storages.InMemoryStorage()) is None


def test_counts_on_a_database_are_queries_not_a_read_of_every_trial(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/a.db")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    first, second = study.ask(), study.ask()

    def read_every_trial(*args, **kwargs):
        raise AssertionError("counted by reading every trial")

    for reader in (study._storage, rdb_backend(study._storage)):
        monkeypatch.setattr(reader, "get_all_trials", read_every_trial)
    counts = storage.count_trial_states(study._storage, study._study_id)
    assert (counts["COMPLETE"], counts["RUNNING"]) == (3, 2)
    frozen = study._storage.get_trial(second._trial_id)
    assert storage.count_trials_ahead(study._storage, study._study_id, frozen) == 4
    frozen = study._storage.get_trial(first._trial_id)
    assert storage.count_trials_ahead(study._storage, study._study_id, frozen) == 3
