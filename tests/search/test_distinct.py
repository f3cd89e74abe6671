"""Distinct configurations in one process: per-trial seeds, duplicates, exhaustion, budgets."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

import search
import storage
from search._distinct import (
    DistinctProposals,
    PerTrialSeedSampler,
    configuration_key,
    enumerate_configurations,
)
from search._study import create_study
from search._worker import run_trials

# 3 cells x 2 directions x 3 aggregations = 18 configurations; everything else fixed.
FINITE_SPACE = {
    "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
    "bidirectional": {"type": "categorical", "choices": [False, True]},
    "aggregation": {"type": "categorical", "choices": ["last", "mean", "max"]},
    "hidden_size": 8,
    "num_layers": 1,
    "dropout": 0.0,
    "embedding_dim": 8,
    "optimizer": "adam",
    "lr": 0.01,
    "batch_size": 128,
    "grad_clip": 0.0,
}


def _config(url: str, **top):
    return search.build_config(
        {"study": "s", "storage": url, "space": dict(FINITE_SPACE), **top},
    )


def _objective(space):
    """No training: a value computed from the parameters (same params, same value)."""

    def objective(trial: optuna.Trial) -> float:
        params = space.suggest(trial)
        return float(len(str(sorted(params.items()))) % 7)

    return objective


def _run(config, n_trials, **kwargs):
    study = create_study(config)
    space = config.search_space()
    result = run_trials(
        study,
        _objective(space),
        n_trials=n_trials,
        distinct=DistinctProposals.for_space(space, config.seed),
        **kwargs,
    )
    return study, result


def _sequence(study):
    return [t.params for t in study.trials if t.state == TrialState.COMPLETE]


def test_the_study_sampler_is_seeded_per_trial_and_tpe_keeps_its_constant_liar(tmp_path):
    config = _config(f"sqlite:///{tmp_path}/a.db")
    study = create_study(config)
    assert isinstance(study.sampler, PerTrialSeedSampler)
    assert study.sampler.wrapped._constant_liar is True  # Optuna 5's default, kept


def test_one_process_with_a_fixed_seed_repeats_itself(tmp_path):
    first, _ = _run(_config(f"sqlite:///{tmp_path}/a.db", seed=3), 8)
    second, _ = _run(_config(f"sqlite:///{tmp_path}/b.db", seed=3), 8)
    other, _ = _run(_config(f"sqlite:///{tmp_path}/c.db", seed=4), 8)
    assert _sequence(first) == _sequence(second)
    assert _sequence(first) != _sequence(other)


def test_a_resumed_study_draws_new_configurations(tmp_path):
    config = _config(f"sqlite:///{tmp_path}/a.db")
    study, _ = _run(config, 4)
    study, result = _run(config, 8)  # resume: a new process, the same study
    keys = [configuration_key(p) for p in _sequence(study)]
    assert len(keys) == 8 and len(set(keys)) == 8
    assert result.trials_run == 4


def test_enumeration_follows_conditions_and_gives_up_on_continuous_spaces():
    space = search.SearchSpace.from_mapping(
        {
            "optimizer": {"type": "categorical", "choices": ["adam", "adamw"]},
            "weight_decay": {
                "type": "float",
                "low": 0.0,
                "high": 0.2,
                "step": 0.1,
                "when": {"optimizer": ["adamw"]},
            },
            "layers": {"type": "int", "low": 1, "high": 2},
            "width": 16,
        }
    )
    configurations = enumerate_configurations(space)
    assert configurations is not None and len(configurations) == 2 + 2 * 3
    assert {"optimizer": "adam", "layers": 1} in configurations
    continuous = search.SearchSpace.from_mapping({"lr": {"type": "float", "low": 0, "high": 1}})
    assert enumerate_configurations(continuous) is None


def test_an_exhausted_space_stops_with_a_message_and_trains_nothing_twice(tmp_path):
    space = {**FINITE_SPACE, "aggregation": "last"}  # 6 configurations
    config = search.build_config({"study": "s", "storage": f"sqlite:///{tmp_path}/a.db"})
    config = search.build_config({**config.to_dict(), "space": space})
    study, result = _run(config, 10)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 6
    assert len({configuration_key(t.params) for t in complete}) == 6
    assert result.stopped_by == "search space exhausted: all 6 configurations have been tried"
    duplicates = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert result.duplicates_avoided == len(duplicates)
    for trial in duplicates:  # failed unrun, naming the trial it repeated
        assert trial.state == TrialState.FAIL and trial.intermediate_values == {}
        assert (
            trial.user_attrs["fail_reason"]
            == f"duplicate of trial {trial.user_attrs['duplicate_of']}"
        )


def test_queued_trials_run_even_when_they_repeat_a_configuration(tmp_path):
    config = _config(f"sqlite:///{tmp_path}/a.db")
    study, _ = _run(config, 2)
    repeated = study.trials[0].params
    study.enqueue_trial(repeated, user_attrs={"baseline": True})  # queued on purpose
    study, result = _run(config, 3)
    assert study.trials[-1].params == repeated and study.trials[-1].state == TrialState.COMPLETE
    assert result.duplicates_avoided == 0


def test_a_trial_drawn_beyond_the_budget_is_given_back_unrun(tmp_path):
    url = f"sqlite:///{tmp_path}/a.db"
    study = optuna.create_study(storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    elsewhere = study.ask()  # another worker's trial, started first
    late = study.ask()  # drawn at the same moment, after it
    backend = study._storage
    assert (
        storage.count_trials_ahead(backend, study._study_id, backend.get_trial(elsewhere._trial_id))
        == 2
    )
    assert (
        storage.count_trials_ahead(backend, study._study_id, backend.get_trial(late._trial_id)) == 3
    )
    assert storage.count_trial_states(backend, study._study_id)["RUNNING"] == 2


@pytest.mark.parametrize("backend", ["sqlite", "journal"])
def test_state_counts_match_the_trials(tmp_path, backend):
    url = f"sqlite:///{tmp_path}/a.db" if backend == "sqlite" else f"journal://{tmp_path}/a.log"
    study = optuna.create_study(storage=storage.open_storage(url))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.ask()
    study.enqueue_trial({"x": 0.5})
    counts = storage.count_trial_states(study._storage, study._study_id)
    assert {k: v for k, v in counts.items() if v} == {"COMPLETE": 3, "RUNNING": 1, "WAITING": 1}
