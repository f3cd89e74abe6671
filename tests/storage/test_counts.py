"""Trial counts a worker asks for before every trial, as COUNT queries on a database."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

import storage


def _truth(study: optuna.Study) -> dict[str, int]:
    seen = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    return {state.name: seen.get(state.name, 0) for state in TrialState}


def _ahead_truth(study: optuna.Study, trial: optuna.Trial) -> int:
    me = study._storage.get_trial(trial._trial_id)
    ahead = 0
    for other in study.get_trials(deepcopy=False):
        if other._trial_id == me._trial_id:
            continue
        if (
            other.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or other.state == TrialState.RUNNING
            and (other.datetime_start, other._trial_id)
            < (
                me.datetime_start,
                me._trial_id,
            )
        ):
            ahead += 1
    return ahead


def test_counts_follow_trials_that_finish_out_of_order(rdb_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=storage.open_storage(rdb_url))
    backend, study_id = study._storage, study._study_id
    running = []
    for step in range(12):
        running.append(study.ask())
        if step % 3 == 2:  # finish the middle one first: an old trial stays running
            finished = running.pop(len(running) // 2)
            if step % 2:
                study.tell(finished, float(step))
            else:
                study.tell(finished, state=TrialState.FAIL)
        if step == 7:
            study.enqueue_trial({"x": 1.0})
        assert storage.count_trial_states(backend, study_id) == _truth(study)
        newest = running[-1]
        frozen = backend.get_trial(newest._trial_id)
        assert storage.count_trials_ahead(backend, study_id, frozen) == _ahead_truth(study, newest)
    for trial in running:
        study.tell(trial, state=TrialState.PRUNED)
    assert storage.count_trial_states(backend, study_id) == _truth(study)


def test_a_study_created_again_is_counted_afresh(tmp_path):
    backend = storage.open_storage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(study_name="s", storage=backend)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert storage.count_trial_states(backend, study._study_id)["COMPLETE"] == 3
    optuna.delete_study(study_name="s", storage=backend)
    again = optuna.create_study(study_name="s", storage=backend)
    again.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert storage.count_trial_states(backend, again._study_id)["COMPLETE"] == 1


@pytest.mark.parametrize("n_trials", [0, 1])
def test_an_empty_or_new_study_counts_nothing_finished(tmp_path, n_trials):
    backend = storage.open_storage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=backend)
    for _ in range(n_trials):
        study.ask()
    counts = storage.count_trial_states(backend, study._study_id)
    assert sum(counts.values()) == n_trials and counts["COMPLETE"] == 0
