"""Several trial attributes in one write: same stored values, one transaction on a database."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy

import storage
from storage import set_trial_user_attrs

ATTRS = {
    "n_parameters": 1234,
    "device": "cpu",
    "val_history": [{"epoch": 0, "accuracy": 0.5}, {"epoch": 1, "accuracy": 0.75}],
    "best_metrics": {"accuracy": 0.75, "loss": 0.25},
    "train_seconds": 1.5,
    "fail_reason": None,
}


def _study(url: str, name: str) -> optuna.Study:
    return optuna.create_study(study_name=name, storage=storage.open_storage(url))


def _commits(study: optuna.Study) -> list[int]:
    """A list that grows by one for each transaction committed on the study's database."""
    engine = study._storage._backend.engine
    commits: list[int] = []
    sqlalchemy.event.listen(engine, "commit", lambda connection: commits.append(1))
    return commits


def test_the_stored_attributes_are_those_of_one_write_per_key(storage_url, study_name):
    study = _study(storage_url, study_name)
    batched, looped = study.ask(), study.ask()
    set_trial_user_attrs(batched, ATTRS)
    for key, value in ATTRS.items():
        looped.set_user_attr(key, value)
    assert batched.user_attrs == ATTRS  # the running trial answers without a read
    reloaded = optuna.load_study(study_name=study_name, storage=storage.open_storage(storage_url))
    stored = {t.number: t.user_attrs for t in reloaded.get_trials(deepcopy=False)}
    assert stored[batched.number] == stored[looped.number] == ATTRS


def test_mysql_stores_them_too(mysql_url, study_name):
    study = _study(mysql_url, study_name)
    trial = study.ask()
    trial.set_user_attr("device", "cuda:0")
    set_trial_user_attrs(trial, ATTRS)
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == ATTRS


def test_a_key_written_again_is_overwritten(storage_url, study_name):
    study = _study(storage_url, study_name)
    trial = study.ask()
    trial.set_user_attr("device", "cuda:0")
    set_trial_user_attrs(trial, {"device": "cpu", "seed": 3})
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {"device": "cpu", "seed": 3}


def test_a_database_gets_one_transaction_for_all_keys(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    trial = study.ask()
    commits = _commits(study)
    set_trial_user_attrs(trial, ATTRS)
    assert len(commits) == 1
    many = {f"key_{i}": i for i in range(450)}  # more rows than one statement holds
    set_trial_user_attrs(trial, many)
    assert len(commits) == 2
    for key, value in ATTRS.items():
        trial.set_user_attr(key, value)
    assert len(commits) == 2 + len(ATTRS)  # what one write per key costs
    assert study._storage.get_trial(trial._trial_id).user_attrs == {**ATTRS, **many}


def test_a_finished_trial_refuses_the_write_and_keeps_its_attributes(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    trial = study.ask()
    set_trial_user_attrs(trial, {"seed": 1})
    study.tell(trial, 1.0)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.write_trial_user_attrs(study._storage, trial._trial_id, {"seed": 2, "x": 0})
    assert study.trials[0].user_attrs == {"seed": 1}
    # The refused write left no transaction open: the next trial is written and read back.
    second = study.ask()
    set_trial_user_attrs(second, {"seed": 2})
    reloaded = optuna.load_study(study_name=study_name, storage=storage.open_storage(rdb_url))
    assert reloaded.trials[1].user_attrs == {"seed": 2}


def test_an_in_memory_study_gets_the_attributes_too():
    study = optuna.create_study()
    trial = study.ask()
    set_trial_user_attrs(trial, ATTRS)
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == ATTRS
