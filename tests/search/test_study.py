"""End to end on real (tiny) training and a real SQLite file."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

import search
from objectives import evaluate
from search._study import load_task

SMALL = {
    "epochs": 4,
    "n_trials": 10,
    "pruner": {
        "name": "percentile",
        "percentile": 60.0,
        "n_startup_trials": 2,
        "n_warmup_steps": 0,
    },
    "space": {
        "hidden_size": {"type": "int", "low": 8, "high": 32, "log": True},
        "embedding_dim": 8,
        "num_layers": 1,
        "lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
        "batch_size": 128,
    },
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    url = f"sqlite:///{folder}/studies.db"
    config = search.build_config(SMALL, {"study": "digits", "storage": url})
    summary = search.run_study(config, progress=False)
    return config, url, summary


def test_study_ends_with_complete_and_pruned_trials(finished):
    config, url, summary = finished
    study = optuna.load_study(study_name="digits", storage=url)  # a plain Optuna study
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 10
    assert TrialState.COMPLETE in states and TrialState.PRUNED in states
    assert summary.counts["COMPLETE"] == states.count(TrialState.COMPLETE)


def test_best_params_lie_in_the_search_space(finished):
    config, url, _ = finished
    trial = search.best_trial("digits", url)
    assert config.search_space().contains(trial.params)
    assert trial.value == max(
        t.value
        for t in optuna.load_study(study_name="digits", storage=url).trials
        if t.state == TrialState.COMPLETE
    )


def test_best_model_predictions_match_the_stored_validation_accuracy(finished):
    config, url, _ = finished
    model, info = search.load_best_model("digits", url)
    assert not model.training
    assert info["label_names"] == [str(i) for i in range(10)]
    data = load_task(config)
    metrics = evaluate(model, data.validation, 10)
    assert metrics["accuracy"] == pytest.approx(search.best_trial("digits", url).value, abs=1e-9)


def test_only_the_best_few_checkpoints_are_kept(finished):
    config, url, _ = finished
    folder = search._study.storage.artifact_dir_for(url) / "digits"
    assert 1 <= len(list(folder.iterdir())) <= config.keep_checkpoints


def test_test_split_is_scored_once_and_stored(finished):
    _, url, _ = finished
    first = search.evaluate_best_on_test("digits", url)
    second = search.evaluate_best_on_test("digits", url)
    assert not first["cached"] and second["cached"]
    assert first["accuracy"] == second["accuracy"] and 0.3 < first["accuracy"] <= 1.0
    assert first["n_test"] == 360


def test_resumed_study_keeps_its_trials_and_extends_the_budget(storage_url, study_name):
    layers = {**SMALL, "n_trials": 2, "epochs": 1, "study": study_name, "storage": storage_url}
    search.run_study(search.build_config(layers), progress=False)

    def trials():
        backend = search._study.storage.open_storage(storage_url)
        return optuna.load_study(study_name=study_name, storage=backend).trials

    before = [t.datetime_start for t in trials()]
    again = search.run_study(search.build_config(layers), progress=False)
    assert again.worker.trials_run == 0  # budget already reached: nothing to redo
    # A larger budget is a change of the stored config: asked for explicitly, and recorded.
    with pytest.raises(search.StudyError, match="n_trials 2 -> 3"):
        search.run_study(search.build_config(layers, {"n_trials": 3}), progress=False)
    more = search.run_study(
        search.build_config(layers, {"n_trials": 3}), progress=False, update_config=True
    )
    assert more.worker.trials_run == 1 and len(trials()) == 3
    assert [t.datetime_start for t in trials()[:2]] == before
    model, info = search.load_best_model(study_name, storage_url)
    assert info["trial_number"] == search.best_trial(study_name, storage_url).number


def test_existing_study_with_another_direction_is_refused_untouched(tmp_path):
    url = f"sqlite:///{tmp_path}/dir.db"
    search.run_study(
        search.build_config(SMALL, {"n_trials": 1, "epochs": 1, "study": "d", "storage": url}),
        progress=False,
    )
    other = search.build_config(SMALL, {"study": "d", "storage": url, "metric": "loss"})
    with pytest.raises(
        search.StudyError, match="exists with direction maximize but the config asks for minimize"
    ):
        search.run_study(other, progress=False)
    assert len(optuna.load_study(study_name="d", storage=url).trials) == 1


def test_missing_study_lists_the_existing_ones(finished):
    _, url, _ = finished
    with pytest.raises(
        search.StudyError, match="study 'nope' does not exist .* existing studies: digits"
    ):
        search.best_trial("nope", url)


class StopAtCheck(search.StopFlag):
    """Behaves as if SIGTERM arrived just before the ``n``-th stop check."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.remaining = n

    def __call__(self) -> bool:
        self.remaining -= 1
        if self.remaining == 0:
            self.set("SIGTERM")
        return super().__call__()


def test_a_stopped_worker_requeues_the_interrupted_trial(tmp_path):
    url = f"sqlite:///{tmp_path}/stop.db"
    config = search.build_config(SMALL, {"n_trials": 3, "study": "s", "storage": url, "epochs": 3})
    # Checks: the worker loop before trial 0, then the objective before epochs 0 and 1.
    summary = search.run_study(config, progress=False, stop=StopAtCheck(3))
    assert summary.worker.stopped_by == "SIGTERM"
    study = optuna.load_study(study_name="s", storage=url)
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"] == "interrupted"
    assert failed.user_attrs["epochs_run"] == 1
    assert summary.worker.requeued == [0]
    waiting = study.trials[1]
    assert waiting.state == TrialState.WAITING
    assert waiting.system_attrs["fixed_params"] == failed.params
    # The next run picks the re-queued parameters up first, and finishes the budget.
    search.run_study(config, progress=False)
    study = optuna.load_study(study_name="s", storage=url)
    assert study.trials[1].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert study.trials[1].params == failed.params
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3


def test_two_objectives_make_a_pareto_study(tmp_path):
    url = f"sqlite:///{tmp_path}/pareto.db"
    config = search.build_config(
        SMALL,
        {"pruner": {"name": "nop"}},
        {
            "metric": ["accuracy", "train_seconds"],
            "n_trials": 3,
            "epochs": 1,
            "study": "p",
            "storage": url,
        },
    )
    summary = search.run_study(config, progress=False)
    assert summary.counts["COMPLETE"] == 3 and summary.best_trials
    with pytest.raises(search.StudyError, match="2 objectives, so no single best trial"):
        search.best_trial("p", url)
