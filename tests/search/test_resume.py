"""Resuming and joining a study: the stored config rules, and changing it is explicit."""

from __future__ import annotations

import optuna
import tomllib
from cli_helpers import hpsearch, tiny_config


def _stored(url: str, name: str) -> dict:
    return optuna.load_study(study_name=name, storage=url).user_attrs["hpsearch_config"]


def test_resume_keeps_the_stored_config_refuses_changes_and_records_updates(
    tiny, capsys, rdb_url, study_name
):
    names = ["--study", study_name, "--storage", rdb_url]
    code, out, err = hpsearch(
        capsys, "run", "-c", "tiny.toml", *names, "--epochs", "2", "--no-progress"
    )
    assert code == 0, err

    # Same options (or none at all) resume it; nothing left out falls back to a default.
    for args in (["-c", "tiny.toml", "--epochs", "2"], []):
        code, out, err = hpsearch(capsys, "run", *args, *names, "--no-progress")
        assert code == 0, err
        assert "2 of 2 trials finished" in out and "this run: 0 trials" in out
    code, _, err = hpsearch(capsys, "create", *names)
    assert code == 0, err
    assert _stored(rdb_url, study_name)["epochs"] == 2  # not the built-in 15

    # A differing option is refused, naming each difference old -> new; nothing changes.
    for command in (["run", "--no-progress"], ["create"], ["worker"]):
        code, _, err = hpsearch(
            capsys,
            *command,
            *names,
            "--n-trials",
            "3",
            *(["--epochs", "3"] if command[0] == "run" else []),
        )
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"study '{study_name}' exists with other settings:" in err
        assert "n_trials 2 -> 3" in err and "--update-config" in err
        if command[0] == "run":
            assert "epochs 2 -> 3" in err
    assert _stored(rdb_url, study_name)["n_trials"] == 2
    assert len(optuna.load_study(study_name=study_name, storage=rdb_url).trials) == 2

    # --update-config stores it, records the trial it took effect at, and status shows it.
    code, out, err = hpsearch(
        capsys,
        "run",
        *names,
        "--n-trials",
        "3",
        "--epochs",
        "3",
        "--update-config",
        "--no-progress",
    )
    assert code == 0, err
    assert "3 of 3 trials finished" in out
    study = optuna.load_study(study_name=study_name, storage=rdb_url)
    assert study.user_attrs["hpsearch_config"]["epochs"] == 3
    assert study.user_attrs["max_epochs"] == 3
    [change] = study.user_attrs["hpsearch_config_changes"]
    assert change["trial"] == 2 and change["changes"] == {"epochs": [2, 3], "n_trials": [2, 3]}
    code, out, _ = hpsearch(capsys, "status", *names)
    assert code == 0
    assert "config changed from trial 2" in out and "epochs 2 -> 3, n_trials 2 -> 3" in out
    assert "(budget 3)" in out


def test_task_data_and_metric_never_change_in_place(tiny, capsys, sqlite_url, study_name):
    names = ["--study", study_name, "--storage", sqlite_url]
    assert hpsearch(capsys, "create", "-c", "tiny.toml", *names)[0] == 0
    (tiny / "other.csv").write_text("text,label\n" + "a b,x\nc d,y\n" * 20)
    code, _, err = hpsearch(capsys, "create", *names, "--update-config", "-c", "tiny.toml")
    assert code == 0, err  # nothing differs: nothing to update
    code, _, err = hpsearch(capsys, "run", *names, "--data", "other.csv", "--update-config")
    assert code == 2
    assert 'created with task.data "digits", but "other.csv" was given' in err
    assert _stored(sqlite_url, study_name)["task"]["data"] == "digits"


def test_launch_refuses_a_differing_budget_before_starting_workers(
    tiny, capsys, sqlite_url, study_name
):
    names = ["--study", study_name, "--storage", sqlite_url]
    assert hpsearch(capsys, "create", "-c", "tiny.toml", *names)[0] == 0
    code, out, err = hpsearch(capsys, "launch", *names, "--workers", "1", "--n-trials", "5")
    assert code == 2 and "n_trials 2 -> 5" in err
    assert "worker" not in out
    assert _stored(sqlite_url, study_name)["n_trials"] == 2


def test_the_study_names_its_metrics_for_the_dashboard(tiny, capsys, sqlite_url, study_name):
    (tiny / "pareto.toml").write_text('metric = ["accuracy", "train_seconds"]\n' + tiny_config())
    code, _, err = hpsearch(
        capsys,
        "run",
        "-c",
        "pareto.toml",
        "--study",
        study_name,
        "--storage",
        sqlite_url,
        "--no-progress",
    )
    assert code == 0, err
    study = optuna.load_study(study_name=study_name, storage=sqlite_url)
    assert study.metric_names == ["accuracy", "train_seconds"]
    frame = study.trials_dataframe()
    assert {"values_accuracy", "values_train_seconds"} <= set(frame.columns)


def test_exported_best_config_retrains_the_best_trial_exactly(tiny, capsys, sqlite_url, study_name):
    (tiny / "searched.toml").write_text(
        tiny_config(n_trials=3)
        + 'lr = {type = "float", low = 1e-3, high = 3e-2, log = true}\n'
        + 'optimizer = {type = "categorical", choices = ["adam", "adamw"]}\n'
    )
    names = ["--study", study_name, "--storage", sqlite_url]
    assert hpsearch(capsys, "run", "-c", "searched.toml", *names, "--no-progress")[0] == 0
    # A later change of the epochs must not leak into the export of an earlier best trial.
    code, _, err = hpsearch(
        capsys,
        "run",
        *names,
        "--n-trials",
        "4",
        "--epochs",
        "2",
        "--update-config",
        "--no-progress",
    )
    assert code == 0, err
    from search._resume import config_at_trial

    updated = optuna.load_study(study_name=study_name, storage=sqlite_url)
    assert config_at_trial(updated, 2)["epochs"] == 1 and config_at_trial(updated, 3)["epochs"] == 2
    code, out, err = hpsearch(capsys, "best", *names, "--export", "best.toml")
    assert code == 0, err
    best = optuna.load_study(study_name=study_name, storage=sqlite_url).best_trial
    assert f"best trial #{best.number} written to best.toml" in out

    exported = tomllib.loads((tiny / "best.toml").read_text())
    assert exported["n_trials"] == 1 and exported["epochs"] == best.user_attrs["epochs_run"]
    assert "storage" not in exported
    # Every parameter is a plain (fixed) value, and the searched ones are the best trial's.
    assert all(not isinstance(v, dict) for v in exported["space"].values())
    assert {k: exported["space"][k] for k in best.params} == best.params

    retrain = ["--study", "retrained", "--storage", sqlite_url]
    code, out, err = hpsearch(capsys, "run", "-c", "best.toml", *retrain, "--no-progress")
    assert code == 0, err
    again = optuna.load_study(study_name="retrained", storage=sqlite_url)
    assert len(again.trials) == 1 and again.trials[0].params == {}  # nothing was sampled
    assert again.best_value == best.value
    assert again.best_trial.user_attrs["n_parameters"] == best.user_attrs["n_parameters"]


def test_export_refuses_an_unknown_extension(tiny, capsys, sqlite_url, study_name):
    names = ["--study", study_name, "--storage", sqlite_url]
    assert hpsearch(capsys, "run", "-c", "tiny.toml", *names, "--no-progress")[0] == 0
    code, _, err = hpsearch(capsys, "best", *names, "--export", "best.ini")
    assert code == 2 and "has extension '.ini'; accepted: .toml, .yaml, .yml, .json" in err
    assert not (tiny / "best.ini").exists()


def test_early_stopping_is_stored_with_the_study_and_every_worker_applies_it(
    tiny, capsys, sqlite_url, study_name
):
    # A learning rate too small to change a prediction: every epoch after the first is stale.
    (tiny / "stalled.toml").write_text(tiny_config(n_trials=1, epochs=8) + "lr = 1e-12\n")
    names = ["--study", study_name, "--storage", sqlite_url]
    code, _, err = hpsearch(
        capsys, "run", "-c", "stalled.toml", *names, "--early-stopping", "1", "--no-progress"
    )
    assert code == 0, err
    assert _stored(sqlite_url, study_name)["early_stopping"] == 1

    # A worker told nothing about it reads it from the study.
    code, _, err = hpsearch(capsys, "worker", *names, "--n-trials", "2", "--update-config")
    assert code == 0, err
    trials = optuna.load_study(study_name=study_name, storage=sqlite_url).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [t.user_attrs["epochs_run"] for t in trials] == [2, 2]
    assert [t.user_attrs["stopped_early_at_epoch"] for t in trials] == [1, 1]

    code, _, err = hpsearch(capsys, "run", *names, "--early-stopping", "3", "--no-progress")
    assert code == 2 and "early_stopping 1 -> 3" in err, err
