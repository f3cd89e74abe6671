from __future__ import annotations

import optuna
import pytest
import sqlalchemy
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


def _write_transactions(engine) -> list[int]:
    """Grows by one for each committed transaction that wrote (reads commit too)."""
    wrote, commits = [], []

    def statement(connection, cursor, sql, *args) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            wrote.append(1)

    def commit(connection) -> None:
        if wrote:
            commits.append(1)
            wrote.clear()

    sqlalchemy.event.listen(engine, "before_cursor_execute", statement)
    sqlalchemy.event.listen(engine, "commit", commit)
    return commits


def test_a_trial_writes_its_attributes_in_one_transaction(digits, tmp_path):
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path}/s.db")
    commits = _write_transactions(study._storage._backend.engine)
    trial = study.ask()
    asked = len(commits)
    objective = ClassificationObjective(digits, _fixed(PARAMS), ObjectiveSettings(max_epochs=3))
    value = objective(trial)
    # One write per reported epoch, then all the trial's attributes at once (was one per key).
    assert len(commits) - asked == 3 + 1
    stored = study._storage.get_trial(trial._trial_id).user_attrs
    assert set(stored) == {
        "n_parameters",
        "device",
        "seed",
        "val_history",
        "epochs_run",
        "train_seconds",
        "cuda_graphs",
        "best_epoch",
        "best_metrics",
    }
    assert stored == trial.user_attrs
    assert stored["epochs_run"] == 3 and stored["best_metrics"]["accuracy"] == value


def test_where_the_checkpoint_is_goes_in_the_same_write_and_a_pruned_trial_saves_none(
    digits, tmp_path
):
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{tmp_path}/s.db")
    commits = _write_transactions(study._storage._backend.engine)
    saved: list[int] = []

    def save(trial, checkpoint) -> dict[str, str]:
        saved.append(trial.number)  # a store that keeps files elsewhere, writing no row
        return {"checkpoint_at": f"trial-{trial.number}.pt"}

    objective = ClassificationObjective(
        digits, _fixed(PARAMS), ObjectiveSettings(max_epochs=3), save_checkpoint=save
    )
    trial = study.ask()
    asked = len(commits)
    objective(trial)
    assert len(commits) - asked == 3 + 1  # was 3 + 2: the checkpoint's attribute on its own
    assert study._storage.get_trial(trial._trial_id).user_attrs["checkpoint_at"] == "trial-0.pt"

    pruning = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    pruned = pruning.ask()
    with pytest.raises(optuna.TrialPruned):
        objective(pruned)
    assert saved == [trial.number]
    assert "checkpoint_at" not in pruned.user_attrs


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_a_trial_that_runs_to_end_is_reported_but_never_pruned(digits):
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    study.enqueue_trial({}, user_attrs={"reference": True})
    settings = ObjectiveSettings(
        max_epochs=3, runs_to_end=lambda trial: "reference" in trial.user_attrs
    )
    study.optimize(ClassificationObjective(digits, _fixed(PARAMS), settings), n_trials=2)
    reference, other = study.trials
    assert reference.state == optuna.trial.TrialState.COMPLETE
    assert sorted(reference.intermediate_values) == [0, 1, 2]
    assert other.state == optuna.trial.TrialState.PRUNED and other.last_step == 0


def test_early_stopping_ends_a_stalled_trial_complete_with_its_best_epoch(digits):
    # A learning rate too small to change a prediction: no epoch after the first is better.
    stalled = {**PARAMS, "lr": 1e-12}
    study = optuna.create_study(direction="maximize")
    settings = ObjectiveSettings(max_epochs=10, early_stopping=2)
    study.optimize(ClassificationObjective(digits, _fixed(stalled), settings), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.user_attrs["epochs_run"] == 3
    assert trial.user_attrs["stopped_early_at_epoch"] == 2
    assert trial.user_attrs["best_epoch"] == 0
    assert trial.value == trial.intermediate_values[0]


def test_early_stopping_off_or_patient_enough_runs_every_epoch(digits):
    stalled = {**PARAMS, "lr": 1e-12}
    # 2: the third stale epoch is the last anyway; 3: it comes before 3 stale epochs pass.
    for patience in (0, 2, 3):
        study = optuna.create_study(direction="maximize")
        settings = ObjectiveSettings(max_epochs=3, early_stopping=patience)
        study.optimize(ClassificationObjective(digits, _fixed(stalled), settings), n_trials=1)
        trial = study.trials[0]
        assert trial.user_attrs["epochs_run"] == 3
        assert "stopped_early_at_epoch" not in trial.user_attrs


def test_negative_early_stopping_is_refused():
    with pytest.raises(ObjectiveError, match="early_stopping must be 0 \\(off\\) or more"):
        ObjectiveSettings(early_stopping=-1)


def _history(digits, params, epochs=3):
    study = optuna.create_study(direction="maximize")
    objective = ClassificationObjective(
        digits, _fixed({**PARAMS, **params}), ObjectiveSettings(max_epochs=epochs, seed=3)
    )
    study.optimize(objective, n_trials=1)
    return study.trials[0].user_attrs["val_history"]


@pytest.mark.parametrize(
    ("schedule", "rates"),
    [
        ({"scheduler": "none"}, [5e-3, 5e-3, 5e-3]),
        ({"scheduler": "step", "step_size": 1, "gamma": 0.5}, [5e-3, 2.5e-3, 1.25e-3]),
        ({"scheduler": "plateau", "patience": 0, "gamma": 0.5, "lr": 1e-6}, [1e-6, 1e-6, 5e-7]),
        ({"scheduler": "none", "warmup_epochs": 1}, [2.5e-3, 5e-3, 5e-3]),
    ],
)
def test_a_trial_follows_its_schedule_epoch_by_epoch(digits, schedule, rates):
    # The rate each epoch trained with is in the trial's history (plateau: an lr too small
    # to move the metric, so the first stale epoch, the second, halves it for the third).
    history = _history(digits, schedule, epochs=len(rates))
    assert [h["lr"] for h in history] == pytest.approx(rates, rel=1e-6, abs=0)


def test_a_schedule_changes_what_a_trial_learns(digits):
    # Found broken: the trial loop had stopped stepping epoch schedules, so a cosine or step
    # schedule (and warm-up) trained exactly as "none" did, whatever the search chose.
    constant = _history(digits, {"scheduler": "none"})
    decayed = _history(digits, {"scheduler": "step", "step_size": 1, "gamma": 0.1})
    assert constant[0]["loss"] == decayed[0]["loss"]  # the same first epoch
    assert constant[2]["loss"] != decayed[2]["loss"]
