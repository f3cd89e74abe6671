from __future__ import annotations

import optuna
import pytest
import torch

from objectives import (
    ClassificationObjective,
    ObjectiveError,
    ObjectiveSettings,
    TrialDiverged,
    load_classification_data,
)

PARAMS = {"cell": "lstm", "hidden_size": 16, "embedding_dim": 8, "lr": 5e-3, "batch_size": 64}


@pytest.fixture(scope="module")
def digits():
    return load_classification_data("digits")


def _fixed(params):
    return lambda trial: params


def test_same_params_and_seed_reproduce_the_validation_metric(digits):
    values = []
    for _ in range(2):
        study = optuna.create_study(direction="maximize")
        objective = ClassificationObjective(
            digits, _fixed(PARAMS), ObjectiveSettings(max_epochs=2, seed=7)
        )
        study.optimize(objective, n_trials=1)
        values.append(study.best_trial.user_attrs["val_history"])
    assert values[0] == values[1]


def test_every_epoch_is_reported_and_recorded(digits):
    study = optuna.create_study(direction="maximize")
    objective = ClassificationObjective(digits, _fixed(PARAMS), ObjectiveSettings(max_epochs=3))
    study.optimize(objective, n_trials=1)
    trial = study.best_trial
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    history = trial.user_attrs["val_history"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    best = max(history, key=lambda h: h["accuracy"])
    assert trial.value == best["accuracy"]
    assert trial.user_attrs["best_epoch"] == best["epoch"]
    assert trial.user_attrs["n_parameters"] > 0
    assert trial.user_attrs["train_seconds"] > 0
    assert trial.user_attrs["device"] == "cpu"


def test_two_objectives_return_a_pair_and_are_not_reported(digits):
    study = optuna.create_study(directions=["maximize", "minimize"])
    settings = ObjectiveSettings(objectives=("accuracy", "train_seconds"), max_epochs=1)
    study.optimize(ClassificationObjective(digits, _fixed(PARAMS), settings), n_trials=1)
    trial = study.trials[0]
    assert len(trial.values) == 2 and trial.values[1] > 0
    assert trial.intermediate_values == {}


def test_nan_loss_fails_the_trial_with_its_reason_and_the_study_goes_on(digits):
    broken = load_classification_data("digits")
    broken.train.inputs = broken.train.inputs.clone()
    broken.train.inputs[:, 0, 0] = float("nan")
    study = optuna.create_study(direction="maximize")
    objective = ClassificationObjective(broken, _fixed(PARAMS), ObjectiveSettings(max_epochs=2))
    study.optimize(objective, n_trials=2, catch=(TrialDiverged,))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert "training loss became nan at epoch 0" in study.trials[0].user_attrs["fail_reason"]


def test_unknown_hyperparameter_is_named(digits):
    objective = ClassificationObjective(digits, _fixed({"hiden_size": 3}), ObjectiveSettings())
    with pytest.raises(ObjectiveError, match="hyperparameter 'hiden_size' is not used"):
        objective(optuna.create_study().ask())


def test_checkpoint_holds_the_best_epoch_state(digits):
    saved = {}
    objective = ClassificationObjective(
        digits,
        _fixed(PARAMS),
        ObjectiveSettings(max_epochs=2),
        save_checkpoint=lambda trial, checkpoint: saved.update(checkpoint),
    )
    optuna.create_study(direction="maximize").optimize(objective, n_trials=1)
    assert set(saved) >= {"state_dict", "model_config", "preprocessing", "params", "metrics"}
    assert all(isinstance(v, torch.Tensor) for v in saved["state_dict"].values())
