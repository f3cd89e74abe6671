"""SearchSpace.suggest writes a trial's parameters once: same proposals, same stored rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest
import sqlalchemy
from db_writes import param_writes, write_transactions

import storage
from search import SearchSpace
from search._config import build_config
from search._distinct import study_sampler

# A single-valued range first (stored before any sampling), a log range, a grid step, a
# condition, and a fixed value (never an Optuna param).
SPACE = SearchSpace.from_mapping(
    {
        "num_layers": {"type": "int", "low": 2, "high": 2},
        "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
        "bidirectional": {
            "type": "categorical",
            "choices": [False, True],
            "when": {"cell": ["gru", "lstm"]},
        },
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "hidden_size": {"type": "int", "low": 16, "high": 128, "step": 16},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "embedding_dim": 64,
        "forget_bias": {"type": "float", "low": 0.0, "high": 2.0, "when": {"cell": ["lstm"]}},
    }
)
# Every parameter but the last fixed: the sampler's first call comes when the trial has
# stored all of its model's space (GP then counts it among the running trials).
ALL_BUT_LAST = {
    "cell": "lstm",
    "bidirectional": True,
    "lr": 0.01,
    "hidden_size": 32,
    "dropout": 0.1,
}
FINITE = SearchSpace.from_mapping(
    {
        "cell": {"type": "categorical", "choices": ["gru", "lstm"]},
        "hidden_size": {"type": "int", "low": 16, "high": 128, "step": 16},
    }
)
SAMPLERS: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
    # hpsearch's default: TPE (constant liar on) reseeded per trial, start-up sized to 8
    "tpe": lambda: study_sampler(build_config({"n_trials": 8, "epochs": 1})),
    "tpe_multivariate": lambda: optuna.samplers.TPESampler(
        seed=0, n_startup_trials=3, multivariate=True, group=True, constant_liar=True
    ),
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
    "gp": lambda: optuna.samplers.GPSampler(seed=0, n_startup_trials=3),
    "qmc": lambda: optuna.samplers.QMCSampler(seed=0, warn_independent_sampling=False),
    "cmaes": lambda: optuna.samplers.CmaEsSampler(
        seed=0, n_startup_trials=3, warn_independent_sampling=False
    ),
    "nsgaii": lambda: optuna.samplers.NSGAIISampler(seed=0, population_size=4),
    "grid": lambda: optuna.samplers.GridSampler(
        {"cell": ["gru", "lstm"], "hidden_size": list(range(16, 129, 16))}, seed=0
    ),
    "brute_force": lambda: optuna.samplers.BruteForceSampler(seed=0),
}


def _value(params: dict[str, Any]) -> float:
    return sum(float(v) if not isinstance(v, str) else len(v) / 10 for v in params.values())


def _drive(study: optuna.Study, suggest: Callable[[optuna.Trial], Any], space: SearchSpace):
    """8 trials, each suggested while the one before still runs (what constant liar and GP
    see of other workers), with queued trials: partly fixed first, fully fixed later."""
    running: optuna.Trial | None = None
    for number in range(8):
        if number in (0, 4) and space is SPACE:
            study.enqueue_trial({"cell": "gru", "lr": 0.01})
        if number == 5 and space is SPACE:
            study.enqueue_trial(ALL_BUT_LAST)
        if number == 6:
            study.enqueue_trial(dict(running.params) if running else {})
        trial = study.ask()
        suggest(trial)
        if running is not None:
            study.tell(running, _value(running.params))
        running = trial
    assert running is not None
    study.tell(running, _value(running.params))


def _rows(url: str, study_name: str) -> list[tuple[Any, ...]]:
    """The study's trial_params rows in the order they were written."""
    engine = sqlalchemy.create_engine(url)
    query = sqlalchemy.text(
        "SELECT t.number, p.param_name, p.param_value, p.distribution_json "
        "FROM trial_params p JOIN trials t ON p.trial_id = t.trial_id "
        "JOIN studies s ON t.study_id = s.study_id WHERE s.study_name = :name "
        "ORDER BY p.param_id"
    )
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query, {"name": study_name})]
    engine.dispose()
    return rows


def _loaded(url: str, study_name: str) -> tuple[Any, ...]:
    """What load_study reads: every trial, and what samplers stored (TPE's and GP's shared
    relative params, QMC's sequence positions, NSGA-II's generations)."""
    study = optuna.load_study(study_name=study_name, storage=storage.open_storage(url))
    numbers = {t._trial_id: t.number for t in study.trials}
    trials = [
        (t.state, list(t.params.items()), t.distributions, t.value, t.system_attrs)
        for t in study.trials
    ]
    # NSGA-II caches its parents by storage id, which differs between two studies.
    study_attrs = {
        key: [numbers[i] for i in value] if "parent" in key else value
        for key, value in study._storage.get_study_system_attrs(study._study_id).items()
    }
    return trials, study_attrs


# Every sampler on SQLite; on PostgreSQL (the same code path, another dialect) one sampler
# whose writes are all held and one whose first ones are not: the suite stays short.
@pytest.mark.parametrize(
    ("rdb_url", "sampler"),
    [("sqlite", name) for name in SAMPLERS] + [("postgresql", "tpe"), ("postgresql", "gp")],
    indirect=["rdb_url"],
)
def test_one_write_stores_what_one_write_per_parameter_stores(rdb_url, study_name, sampler):
    if sampler == "cmaes":
        pytest.importorskip("cmaes")  # an optional dependency of Optuna's CMA-ES sampler
    space = FINITE if sampler in ("grid", "brute_force") else SPACE
    names = {True: study_name, False: f"{study_name}_per_parameter"}
    for one_write, name in names.items():
        study = optuna.create_study(
            study_name=name, storage=storage.open_storage(rdb_url), sampler=SAMPLERS[sampler]()
        )
        writes = write_transactions(study)
        _drive(study, space.suggest if one_write else space.suggest_per_parameter, space)
        if one_write:
            held_writes = len(writes)
        else:
            assert len(writes) > held_writes  # the two paths did differ in their writes
    assert _rows(rdb_url, names[True]) == _rows(rdb_url, names[False])
    assert _loaded(rdb_url, names[True]) == _loaded(rdb_url, names[False])
    assert len(_rows(rdb_url, names[True])) >= 8 * len(space.names) // 2


def test_the_default_space_costs_one_write_per_trial(rdb_url, study_name):
    config = build_config({"n_trials": 10, "epochs": 1})
    space = config.search_space()
    study = optuna.create_study(
        study_name=study_name, storage=storage.open_storage(rdb_url), sampler=study_sampler(config)
    )
    writes = write_transactions(study)
    for number in range(6):  # random start-up, then multivariate TPE with constant liar
        trial = study.ask()
        before = len(writes)
        space.suggest(trial)
        assert space.suggest(trial) == space.suggest_per_parameter(trial)  # no write again
        # One write in all: once TPE samples from its model, the relative params it shares
        # with other workers (trial_system_attributes) go in the parameters' transaction.
        assert writes[before:] == [
            {"trial_params", "trial_system_attributes"} if number >= 2 else {"trial_params"}
        ]
        assert any(
            key.startswith("tpe:relative_params")
            for key in study._storage.get_trial(trial._trial_id).system_attrs
        ) == (number >= 2)
        study.tell(trial, float(number))
    trial = study.ask()
    before = len(writes)
    space.suggest_per_parameter(trial)
    assert param_writes(writes[before:]) == len(trial.params) > 5


def test_gp_writes_what_is_set_before_its_first_proposal_at_once(rdb_url, study_name):
    study = optuna.create_study(
        study_name=study_name,
        storage=storage.open_storage(rdb_url),
        sampler=optuna.samplers.GPSampler(seed=0),
    )
    study.enqueue_trial({"cell": "rnn", "lr": 0.01})
    writes = write_transactions(study)
    trial = study.ask()
    before = len(writes)
    SPACE.suggest(trial)
    # num_layers (single-valued), cell and lr (queued) come before the sampler's first
    # call, so one by one; hidden_size and dropout in one write.
    assert param_writes(writes[before:]) == 4
    assert list(trial.params) == ["num_layers", "cell", "lr", "hidden_size", "dropout"]


def test_a_sampler_not_known_to_allow_it_gets_one_write_per_parameter(rdb_url, study_name):
    study = optuna.create_study(
        study_name=study_name,
        storage=storage.open_storage(rdb_url),
        sampler=optuna.samplers.PartialFixedSampler(
            {"lr": 0.01}, optuna.samplers.RandomSampler(seed=0)
        ),
    )
    trial = study.ask()
    writes = write_transactions(study)
    SPACE.suggest(trial)
    assert param_writes(writes) == len(writes) == len(trial.params)


def test_journal_storage_stores_the_same(tmp_path, study_name):
    url = f"journal://{tmp_path}/studies.log"
    for one_write in (True, False):
        study = optuna.create_study(
            study_name=f"{study_name}_{one_write}",
            storage=storage.open_storage(url),
            sampler=SAMPLERS["tpe"](),
        )
        _drive(study, SPACE.suggest if one_write else SPACE.suggest_per_parameter, SPACE)
    assert _loaded(url, f"{study_name}_True") == _loaded(url, f"{study_name}_False")


def test_a_changed_distribution_raises_as_optuna_does(rdb_url, study_name):
    """A study searched over one space, then over one where lr is categorical."""
    changed = SearchSpace.from_mapping(
        {**SPACE.to_mapping(), "lr": {"type": "categorical", "choices": [0.01, 0.1]}}
    )
    errors = []
    for one_write in (True, False):
        name = f"{study_name}_{one_write}"
        study = optuna.create_study(
            study_name=name, storage=storage.open_storage(rdb_url), sampler=SAMPLERS["random"]()
        )
        trial = study.ask()
        SPACE.suggest(trial)
        study.tell(trial, 1.0)
        reloaded = optuna.load_study(  # another worker, started with the changed space
            study_name=name, storage=storage.open_storage(rdb_url), sampler=SAMPLERS["random"]()
        )
        trial = reloaded.ask()
        with pytest.raises(ValueError) as raised:
            (changed.suggest if one_write else changed.suggest_per_parameter)(trial)
        errors.append(str(raised.value))
    assert (
        errors[0]
        == errors[1]
        == ("Cannot set different distribution kind to the same parameter name.")
    )
    assert _loaded(rdb_url, f"{study_name}_True") == _loaded(rdb_url, f"{study_name}_False")
