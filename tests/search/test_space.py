from __future__ import annotations

import optuna
import pytest

from search import ConfigError, SearchSpace


def _space(spec):
    return SearchSpace.from_mapping(spec)


def test_conditional_parameter_exists_only_when_its_condition_holds():
    space = _space(
        {
            "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
            "bidirectional": {
                "type": "categorical",
                "choices": [False, True],
                "when": {"cell": ["gru", "lstm"]},
            },
            "hidden_size": 32,
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        assert params["hidden_size"] == 32  # fixed, not searched
        assert "hidden_size" not in trial.params
        assert ("bidirectional" in params) == (params["cell"] != "rnn")
        assert space.contains(trial.params)
        seen.add(params["cell"])
        study.tell(trial, 0.0)
    assert seen == {"rnn", "gru", "lstm"}


def test_ranges_respect_bounds_log_and_step():
    space = _space(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 3},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        params = space.suggest(study.ask())
        assert 1e-4 <= params["lr"] <= 1e-1
        assert params["layers"] in (1, 2, 3)
        assert abs(params["dropout"] * 10 - round(params["dropout"] * 10)) < 1e-9


def test_round_trip_through_config_form():
    spec = {
        "cell": {"type": "categorical", "choices": ["gru", "lstm"]},
        "lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
        "bidirectional": {"type": "fixed", "value": True, "when": {"cell": ["lstm"]}},
        "epochs": 4,
    }
    assert _space(spec).to_mapping() == spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"h": {"type": "int", "low": 64, "high": 8}},
            r"space.h: low \(64\) must not be greater than high \(8\)",
        ),
        (
            {"h": {"type": "integer", "low": 1, "high": 2}},
            "space.h.type 'integer' is not accepted; accepted: float, int, categorical, fixed",
        ),
        ({"h": {"type": "int", "low": 1, "high": 2, "lgo": True}}, "space.h has unknown key 'lgo'"),
        (
            {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}},
            "a log range needs low > 0",
        ),
        ({"c": {"type": "categorical", "choices": []}}, "choices must be a non-empty list"),
        ({"c": ["a", "b"]}, "is a list; write"),
        (
            {"b": {"type": "categorical", "choices": [1, 2], "when": {"cell": ["gru"]}}},
            "refers to 'cell', which is not a parameter defined before it",
        ),
    ],
)
def test_bad_specs_name_the_value_and_what_is_accepted(spec, message):
    with pytest.raises(ConfigError, match=message):
        _space(spec)


def test_unknown_parameter_names_the_accepted_ones():
    with pytest.raises(
        ConfigError,
        match="space parameter 'hiden' is not a hyperparameter of this task; accepted: a, b",
    ):
        SearchSpace.from_mapping({"hiden": 3}, accepted=["a", "b"])
