"""``hpsearch evaluate``: chosen trials (the baseline too) scored on the test split, data read once."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from cli_helpers import copy_of_study, hpsearch, train_study

import search._evaluate
from search._checkpoints import CHECKPOINT_ATTR, CheckpointStore

TINY = """
study = "s"
n_trials = 4
epochs = 1
keep_checkpoints = 4
[pruner]
name = "nop"
[space]
hidden_size = {type = "int", low = 4, high = 12}
embedding_dim = 8
batch_size = 128
num_layers = 1
[baseline]
hidden_size = 6
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-trial digits study (baseline first) whose trials all keep their models."""
    return train_study(tmp_path_factory.mktemp("trained"), TINY, enqueue_baseline=True)


@pytest.fixture
def study(trained, tmp_path, monkeypatch):
    """A copy of the trained study (its database and models) for one test to change."""
    url = copy_of_study(trained, tmp_path, monkeypatch)
    loaded = optuna.load_study(study_name="s", storage=url)
    ranked = sorted(loaded.trials, key=lambda t: -t.value)
    return url, loaded, [t.number for t in ranked[:2]]


def _count_loads(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = search._evaluate.load_task

    def counting(config, data=None):
        calls.append(1)
        return real(config, data)

    monkeypatch.setattr(search._evaluate, "load_task", counting)
    return calls


def test_evaluate_scores_each_trial_once_with_the_data_read_once(study, capsys, monkeypatch):
    url, loaded, saved = study
    loads = _count_loads(monkeypatch)
    args = ["evaluate", "--study", "s", "--storage", url]
    for number in saved:
        args += ["--trial", str(number)]
    code, out, err = hpsearch(capsys, *args)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [line.split(":")[0].split()[1] for line in lines] == [f"#{n}" for n in saved]
    assert all("test accuracy=" in line and "stored result" not in line for line in lines)
    assert loads == [1]  # one data load for both trials

    stored = optuna.load_study(study_name="s", storage=url).user_attrs["test_results"]
    assert sorted(stored) == sorted(str(n) for n in saved)
    assert all(0.0 <= stored[str(n)]["accuracy"] <= 1.0 for n in saved)

    # Asked again: the stored scores come back and nothing is read.
    code, out, err = hpsearch(capsys, *args, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert [r["trial"] for r in again] == saved and all(r["cached"] for r in again)
    assert [r["accuracy"] for r in again] == [stored[str(n)]["accuracy"] for n in saved]
    assert loads == [1]
    # `best --evaluate-test` reads the same record for the best trial.
    code, out, err = hpsearch(capsys, "best", "--study", "s", "--storage", url, "--evaluate-test")
    assert code == 0 and "stored result of an earlier evaluation" in out, err


def test_the_baseline_trial_is_scored_with_the_trials_named(study, capsys):
    url, loaded, saved = study
    (baseline,) = [t.number for t in loaded.trials if t.user_attrs.get("baseline")]
    assert baseline == 0 and loaded.trials[baseline].params["hidden_size"] == 6  # queued first
    args = ["evaluate", "--study", "s", "--storage", url, "--trial", "3", "--baseline"]
    code, out, err = hpsearch(capsys, *args)
    assert code == 0, err
    first, second = out.strip().splitlines()
    assert first.startswith("trial #3: test accuracy=")
    assert second.startswith(f"trial #{baseline} (baseline): test accuracy=")


def test_a_trial_without_a_model_names_the_trials_that_have_one(study, capsys):
    url, loaded, saved = study
    # A model pruned as no longer among the best (as workers do), and a failed trial.
    folder = Path("hpsearch-artifacts") / "s"
    CheckpointStore(folder, keep=3).prune(loaded)
    kept = [n for n in range(4) if (folder / loaded.trials[n].user_attrs[CHECKPOINT_ATTR]).exists()]
    (worst,) = sorted(set(range(4)) - set(kept))
    best = next(n for n in saved if n in kept)
    failed = loaded.ask()
    loaded.tell(failed, state=optuna.trial.TrialState.FAIL)
    for number in (worst, failed.number):
        code, out, err = hpsearch(
            capsys,
            "evaluate",
            "--study",
            "s",
            "--storage",
            url,
            "--trial",
            str(best),
            "--trial",
            str(number),
        )
        assert code == 2 and out == "" and "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert f"trial #{number} of study 's' has no saved model" in line
        assert line.endswith("trials with a model: " + ", ".join(f"#{n}" for n in kept))
    assert "test_results" not in optuna.load_study(study_name="s", storage=url).user_attrs


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--trial", "99"], "no trial #99; its trials are #0, #1, #2, #3"), ([], "--trial N")],
)
def test_a_missing_or_unknown_trial_is_one_line(study, capsys, args, named):
    url, _, _ = study
    code, out, err = hpsearch(capsys, "evaluate", "--study", "s", "--storage", url, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert named in err
