"""Trials drawn beyond the budget or given back to the queue, and trials of dead workers."""

from __future__ import annotations

import time

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

import search._worker as worker
import storage
from search._ask_tell import give_back
from search._heartbeat import WorkerHeartbeat, recover_stale_trials
from search._reference import baseline_of
from search._report_trials import baseline_trial
from search._worker import BEYOND_BUDGET_REASON, CARRIED_ATTRS, run_trials


def _study(url: str, name: str) -> optuna.Study:
    storage = RDBStorage(url, heartbeat_interval=1, grace_period=1)
    return optuna.create_study(storage=storage, study_name=name)


def test_a_trial_given_back_is_not_failed_as_stale_when_popped_again(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    study.enqueue_trial({"x": 1.0})
    with WorkerHeartbeat(study) as heartbeat:
        trial = study.ask()
        heartbeat.beat(trial._trial_id)
        heartbeat.beat(None)
        give_back(study, trial)
    time.sleep(2.5)  # longer than the grace period: the old heartbeat would be stale now

    again = study.ask()  # another worker pops it, before its first heartbeat
    assert again._trial_id == trial._trial_id
    recover_stale_trials(study)  # a third worker's stale check at that moment

    assert study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 0  # no copy re-queued


def test_a_trial_whose_worker_died_is_still_failed_as_stale(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    trial = study.ask()
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)
    recover_stale_trials(study)
    assert study._storage.get_trial(trial._trial_id).state == TrialState.FAIL


def test_a_stale_trial_says_why_it_failed_and_its_copy_where_it_came_from(rdb_url, study_name):
    backend = storage.open_storage(
        rdb_url, heartbeat_interval=1, grace_period=1, carried_attrs=CARRIED_ATTRS
    )
    study = optuna.create_study(storage=backend, study_name=study_name)
    study.enqueue_trial({"x": 0.5}, user_attrs={"seed": 7, "baseline": True, "requeued_from": 99})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("train_seconds", 12.5)  # written by the run that then died
    backend.record_heartbeat(trial._trial_id)
    time.sleep(2.5)  # its worker is gone

    recover_stale_trials(study)

    failed = study._storage.get_trial(trial._trial_id)
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["fail_reason"] == (
        f"{storage.STALE_REASON_PREFIX} no heartbeat for more than 1 s (its worker was "
        "killed, or lost the database)"
    )
    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert copy.system_attrs["fixed_params"] == {"x": 0.5}
    # What it is to run (seed, role) goes with the copy; what the dead run wrote does not.
    assert copy.user_attrs == {"seed": 7, "baseline": True, "requeued_from": trial.number}


def test_an_interrupted_trial_and_a_stale_one_are_copied_by_one_rule(rdb_url, study_name):
    study = optuna.create_study(storage=storage.open_storage(rdb_url), study_name=study_name)
    study.enqueue_trial({"x": 0.5}, user_attrs={"seed": 7, "known_good": 2})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.set_user_attr("train_seconds", 3.0)
    study.tell(trial, state=TrialState.FAIL)

    worker._requeue(study, study._storage.get_trial(trial._trial_id))

    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert copy.user_attrs == {"seed": 7, "known_good": 2, "requeued_from": trial.number}
    assert copy.user_attrs == storage.requeued_attrs(
        study._storage.get_trial(trial._trial_id), CARRIED_ATTRS
    )


def _race_for_the_last_place(monkeypatch, study: optuna.Study) -> None:
    """Another worker asks for the study's last place between this worker's count and ask.

    The first count is taken before the other worker's trial exists; by the second, that
    trial has finished.
    """
    counted = worker.count_states
    elsewhere: list[optuna.Trial] = []

    def count_states(s: optuna.Study) -> dict[str, int]:
        counts = counted(s)
        if not elsewhere:
            elsewhere.append(study.ask())
        elif elsewhere[0].number not in [
            t.number for t in s.get_trials(states=(TrialState.COMPLETE,))
        ]:
            study.tell(elsewhere[0], 1.0)
        return counts

    monkeypatch.setattr(worker, "count_states", count_states)


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


def test_a_fresh_trial_beyond_the_budget_is_failed_unrun_and_nothing_stays_queued(
    monkeypatch, tmp_path
):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/a.db")
    study.optimize(_objective, n_trials=1)
    _race_for_the_last_place(monkeypatch, study)

    result = run_trials(study, _objective, n_trials=2, poll_seconds=0.01)

    assert (result.given_back, result.trials_run, result.stopped_by) == (1, 0, "budget")
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 2
    assert TrialState.WAITING not in states and TrialState.RUNNING not in states
    (beyond,) = study.get_trials(states=(TrialState.FAIL,))
    assert beyond.user_attrs["fail_reason"] == BEYOND_BUDGET_REASON and not beyond.params


def test_a_queued_trial_beyond_the_budget_goes_back_to_the_queue_with_its_parameters(
    monkeypatch, tmp_path
):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/a.db")
    study.optimize(_objective, n_trials=1)
    study.enqueue_trial({"x": 0.25})
    _race_for_the_last_place(monkeypatch, study)  # the other worker pops the queued trial
    study.enqueue_trial({"x": 0.75})  # and this worker the next one

    result = run_trials(study, _objective, n_trials=2, poll_seconds=0.01)

    assert (result.given_back, result.trials_run) == (1, 0)
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == {"x": 0.75}
    assert not study.get_trials(states=(TrialState.FAIL,))


def test_an_interrupted_baselines_completed_copy_is_the_baseline(rdb_url, study_name):
    study = optuna.create_study(storage=storage.open_storage(rdb_url), study_name=study_name)
    study.enqueue_trial({"x": 0.5}, user_attrs={"baseline": True})
    original = study.ask()
    original.suggest_float("x", 0, 1)
    study.tell(original, state=TrialState.FAIL)  # interrupted: its copy waits in the queue
    worker._requeue(study, study._storage.get_trial(original._trial_id))
    assert baseline_of(study.get_trials()).number == original.number  # failed, still named

    copy = study.ask()
    copy.suggest_float("x", 0, 1)
    study.tell(copy, 0.7)

    assert copy.user_attrs["baseline"] is True  # the copy is still the baseline
    assert baseline_of(study.get_trials()).number == copy.number
    assert baseline_trial(study).number == copy.number
