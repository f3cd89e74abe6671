"""Sampler start-up and pruner warm-up follow the study's budget unless set explicitly."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

import search
from search._budget import startup_trials, study_phase
from search._config import build_config
from tests.search.cli_helpers import hpsearch


@pytest.mark.parametrize(
    ("n_trials", "expected"), [(4, 2), (10, 2), (30, 6), (200, 10), (None, 10)]
)
def test_tpe_start_up_is_a_fifth_of_the_budget(n_trials, expected):
    assert startup_trials(n_trials) == expected
    # A study without a trial budget (timeout only) keeps 10.
    config = dataclasses.replace(build_config({}), n_trials=n_trials)
    assert config.build_sampler()._n_startup_trials == expected


def test_settings_given_in_the_config_win():
    config = build_config(
        {
            "n_trials": 10,
            "sampler": {"name": "tpe", "n_startup_trials": 7},
            "pruner": {"name": "median", "n_warmup_steps": 4},
        }
    )
    assert config.build_sampler()._n_startup_trials == 7
    pruner = config.build_pruner()
    assert pruner._n_warmup_steps == 4 and pruner._n_startup_trials == 1


def test_the_default_pruner_halves_from_the_first_epoch():
    pruner = build_config({"n_trials": 10, "epochs": 9}).build_pruner()
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruner._min_resource == 1 and pruner._reduction_factor == 3
    hyperband = build_config({"epochs": 9, "pruner": {"name": "hyperband"}}).build_pruner()
    assert hyperband._max_resource == 9 and hyperband._min_resource == 1


def test_status_says_which_phase_the_study_is_in(sqlite_url, capsys):
    config = build_config({"study": "phase", "storage": sqlite_url, "n_trials": 10})
    study = search.create_study(config)
    assert study_phase(study, config.sampler, 10).describe("tpe") == "random start-up 0/2"
    for value in (0.1, 0.2):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
    code, out, _ = hpsearch(capsys, "status", "--study", "phase", "--storage", sqlite_url)
    assert code == 0 and "sampler phase: model-based (tpe)" in out
    random = build_config({"sampler": {"name": "random"}})
    assert not study_phase(study, random.sampler, 10).model_based
