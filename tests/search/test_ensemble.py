"""``best --ensemble K`` and ``predict --ensemble K``: the K best trials' probabilities averaged."""

from __future__ import annotations

import json

import optuna
import pytest
import torch
from cli_helpers import copy_of_study, hpsearch, train_study

from objectives import model_from_checkpoint
from search import load_config, run_study
from search._checkpoints import CheckpointStore
from search._ensemble import ENSEMBLE_RESULTS_ATTR, evaluate_ensemble
from search._study import load_task, stored_config

TINY = """
study = "s"
n_trials = 4
epochs = 2
keep_checkpoints = 3
[pruner]
name = "nop"
[space]
hidden_size = {type = "int", low = 4, high = 16}
embedding_dim = 8
batch_size = 128
num_layers = 1
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-trial digits study whose 3 best trials keep their models."""
    return train_study(tmp_path_factory.mktemp("ensemble"), TINY)


@pytest.fixture
def study(trained, tmp_path, monkeypatch):
    """A copy of the trained study for one test; the trial numbers by value, best first."""
    url = copy_of_study(trained, tmp_path, monkeypatch)
    loaded = optuna.load_study(study_name="s", storage=url)
    ranked = sorted(loaded.trials, key=lambda t: (-t.value, t.number))
    return url, loaded, [t.number for t in ranked]


def _probabilities_by_hand(url, loaded, numbers, split_name):
    """The members' softmax averaged with plain torch, for the checks below."""
    task = load_task(stored_config(loaded))
    split = getattr(task, split_name)
    store = CheckpointStore(f"hpsearch-artifacts/{loaded.study_name}")
    total = 0
    for number in numbers:
        model, _ = model_from_checkpoint(store.load(loaded.trials[number]))
        with torch.no_grad():
            total = total + torch.softmax(model(split.inputs, split.lengths), -1)
    return total / len(numbers), split.labels


def test_an_ensemble_of_one_is_the_best_trial(study):
    url, loaded, ranked = study
    result = evaluate_ensemble("s", url, 1)
    assert result["trials"] == [ranked[0]] and result["best"]["number"] == ranked[0]
    assert result["validation"]["accuracy"] == pytest.approx(loaded.best_value, abs=1e-9)


def test_the_best_three_are_averaged_and_their_test_score_is_stored_once(study, capsys):
    url, loaded, ranked = study
    args = ["best", "--study", "s", "--storage", url, "--ensemble", "3"]
    code, out, err = hpsearch(capsys, *args, "--evaluate-test", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["trials"] == ranked[:3] and not result["cached"]
    for split, scores in (("validation", result["validation"]), ("test", result["test"])):
        probabilities, labels = _probabilities_by_hand(url, loaded, ranked[:3], split)
        accuracy = int((probabilities.argmax(-1) == labels).sum()) / len(labels)
        assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-9)
        loss = float(-probabilities.gather(1, labels[:, None]).log().mean())
        assert scores["loss"] == pytest.approx(loss, rel=1e-5)
    stored = optuna.load_study(study_name="s", storage=url).user_attrs[ENSEMBLE_RESULTS_ATTR]
    assert list(stored) == [",".join(map(str, ranked[:3]))]

    code, out, err = hpsearch(capsys, *args, "--evaluate-test")
    assert code == 0, err
    first, second = out.strip().splitlines()
    assert first.startswith(f"ensemble of the best 3 trials (#{ranked[0]}, #{ranked[1]}, ")
    assert f"the best trial #{ranked[0]} alone: {loaded.best_value:.4f}" in first
    assert second.endswith("(stored result of an earlier evaluation)")
    assert f"accuracy={result['test']['accuracy']:.4f}" in second


def test_predict_with_an_ensemble_labels_every_line(study, capsys, tmp_path):
    url, loaded, ranked = study
    task = load_task(stored_config(loaded))
    rows = task.test.inputs[:5].reshape(5, -1).numpy()
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(" ".join(f"{v:g}" for v in row) for row in rows) + "\n")
    base = ["predict", "--study", "s", "--storage", url, "--input", str(path)]
    outputs = {}
    for extra in ([], ["--ensemble", "1"], ["--ensemble", "3"]):
        code, out, err = hpsearch(capsys, *base, *extra)
        assert code == 0, err
        outputs[tuple(extra)] = out.split()
    assert outputs[()] == outputs[("--ensemble", "1")]  # one member: the best model's labels
    probabilities, _ = _probabilities_by_hand(url, loaded, ranked[:3], "test")
    names = task.label_names
    assert outputs[("--ensemble", "3")] == [names[i] for i in probabilities[:5].argmax(-1)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ensemble", "0"], "--ensemble takes the number of best trials to average (1 or more), not 0"),
        (["--ensemble", "4"], "among its 4 best, has no saved model: a study keeps the models of its best keep_checkpoints trials (set keep_checkpoints = 4 or more"),
        (["--ensemble", "2", "--confirm", "2"], "--ensemble goes with --evaluate-test and --json only"),
    ],
)  # fmt: skip
def test_a_bad_ensemble_is_one_line_and_exit_2(study, capsys, extra, message):
    url, loaded, ranked = study
    code, out, err = hpsearch(capsys, "best", "--study", "s", "--storage", url, *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert ENSEMBLE_RESULTS_ATTR not in optuna.load_study(study_name="s", storage=url).user_attrs


def test_more_members_than_completed_trials_says_how_many_there_are(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    (tmp_path / "one.toml").write_text(TINY.replace("n_trials = 4", "n_trials = 1"))
    run_study(load_config(tmp_path / "one.toml", storage=url), progress=False)
    code, out, err = hpsearch(capsys, "best", "--study", "s", "--storage", url, "--ensemble", "2")
    assert code == 2
    assert "has 1 completed trials, fewer than the 2 to average; run more trials or ask for " in err


def test_a_study_of_two_objectives_has_no_ensemble(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'two.db'}"
    (tmp_path / "two.toml").write_text('metric = ["accuracy", "train_seconds"]\n' + TINY)
    config = load_config(tmp_path / "two.toml", storage=url)
    assert len(config.metric) == 2
    run_study(config, progress=False)
    code, out, err = hpsearch(capsys, "best", "--study", "s", "--storage", url, "--ensemble", "2")
    assert code == 2 and "optimizes 2 values, so it has no single order of best trials" in err


def test_with_folds_the_ensemble_is_not_scored_on_the_split_it_trained_on(tmp_path, capsys):
    # Cross-validation trains each fold's model on most of the validation rows.
    url = f"sqlite:///{tmp_path / 'folds.db'}"
    folds = "folds = 2\n" + TINY.replace("n_trials = 4", "n_trials = 2")
    (tmp_path / "folds.toml").write_text(folds)
    run_study(load_config(tmp_path / "folds.toml", storage=url), progress=False)
    args = ["best", "--study", "s", "--storage", url, "--ensemble", "2", "--evaluate-test"]
    code, out, err = hpsearch(capsys, *args)
    assert code == 0, err
    first, second = out.strip().splitlines()
    assert first.endswith("validation not scored (with folds, each member trained on part of it)")
    assert second.startswith("test split (") and "accuracy=" in second
