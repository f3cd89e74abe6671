"""``hpsearch best --confirm K --seeds S``: the top trials re-trained with other seeds."""

from __future__ import annotations

import json
import shutil

import optuna
import pytest
from cli_helpers import hpsearch
from optuna.trial import TrialState

import search._confirm
from search._worker import _requeue

# Digits (built in), one epoch per trial: every configuration trains in about a second.
TINY = """
study = "s"
n_trials = 3
epochs = 1
[space]
cell = {type = "categorical", choices = ["rnn", "gru"]}
hidden_size = {type = "int", low = 8, high = 16}
embedding_dim = 8
batch_size = 64
lr = {type = "float", low = 1e-2, high = 5e-2, log = true}
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """The folder of a 3-trial study, searched through the CLI by the first test to use it."""
    folder = tmp_path_factory.mktemp("searched")
    (folder / "tiny.toml").write_text(TINY)
    return folder


@pytest.fixture
def study(searched, tmp_path, monkeypatch, capsys):
    """A copy of the searched folder, trained on first use, for one test to change."""
    if not (searched / "hpsearch.db").exists():
        monkeypatch.chdir(searched)
        code, _, err = hpsearch(capsys, "run", "--config", "tiny.toml", "--no-progress")
        assert code == 0, err
    shutil.copytree(searched, tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "copy")
    source = optuna.load_study(study_name="s", storage="sqlite:///hpsearch.db")
    ranked = sorted(source.trials, key=lambda t: -t.value)
    return source, [t.number for t in ranked]


def _confirm_trials():
    linked = optuna.load_study(study_name="s-confirm", storage="sqlite:///hpsearch.db")
    return linked, linked.trials


def test_top_trials_retrained_with_other_seeds_and_reported_as_mean_and_std(study, capsys):
    source, ranked = study
    code, out, err = hpsearch(capsys, "best", "--study", "s", "--confirm", "2", "--seeds", "2")
    assert code == 0, err

    linked, trials = _confirm_trials()
    assert linked.user_attrs["confirm_of"] == "s"
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    by_source: dict[int, list] = {}
    for trial in trials:
        by_source.setdefault(trial.user_attrs["source_trial"], []).append(trial)
    assert sorted(by_source) == sorted(ranked[:2])
    for number, repeats in by_source.items():
        # Same configuration as the source trial (no repeat was taken for a duplicate) ...
        assert all(t.params == source.trials[number].params for t in repeats)
        # ... trained with the queued seeds, which the objective recorded as the ones used,
        assert sorted(t.user_attrs["seed"] for t in repeats) == [1, 2]
        # ... and the seed changed the training: the repeats do not agree.
        assert len({t.user_attrs["val_history"][0]["loss"] for t in repeats}) == 2
    # The source trials trained with the study's seed; the repeats leave it out.
    assert {source.trials[n].user_attrs["seed"] for n in ranked[:2]} == {0}
    assert sorted(linked.user_attrs["test_results"]) == sorted(str(t.number) for t in trials)

    lines = out.strip().splitlines()
    assert "validation accuracy mean +- std" in lines[1] and "test accuracy mean +- std" in lines[1]
    rows = [line for line in lines if line.lstrip("*").startswith(("#", " #"))]
    assert [int(row.lstrip("* #").split()[0]) for row in rows] == ranked[:2]
    assert all(row.count("+-") == 2 and " 2/2 " in row for row in rows)
    means = {
        n: sum(t.value for t in by_source[n]) / 2 for n in by_source
    }  # the pick is the best mean validation value, marked with *
    best = max(means, key=means.__getitem__)
    assert [row for row in rows if row.startswith("*")][0].startswith(f"*#{best}")
    assert lines[-1].startswith(f"pick: trial #{best} (best mean validation accuracy over 2")

    # Re-run with a third seed: only the two new repeats are trained.
    started = {t.number: t.datetime_start for t in trials}
    code, out, err = hpsearch(
        capsys, "best", "--study", "s", "--confirm", "2", "--seeds", "3", "--json"
    )
    assert code == 0, err
    _, trials = _confirm_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.datetime_start == started[t.number] for t in trials if t.number in started)
    report = json.loads(out)
    assert [c["seeds_done"] for c in report["configurations"]] == [3, 3]
    assert all(
        c["validation_std"] > 0 and c["test_std"] is not None for c in report["configurations"]
    )
    assert report["pick"] in ranked[:2]


def test_workers_share_the_queued_repeats_and_sample_nothing_new(study, capsys):
    _, ranked = study
    code, out, err = hpsearch(
        capsys, "best", "--study", "s", "--confirm", "1", "--seeds", "2", "--queue-only"
    )
    assert code == 0, err
    _, trials = _confirm_trials()
    assert [t.state for t in trials] == [TrialState.WAITING] * 2
    assert "2 repeats not finished yet" in out
    code, out, err = hpsearch(capsys, "status", "--study", "s-confirm")
    assert code == 0, err
    assert "sampler phase: queued repeats only (confirming study 's')" in out

    code, out, err = hpsearch(capsys, "worker", "--study", "s-confirm", "--quiet")
    assert code == 0, err
    _, trials = _confirm_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert {t.user_attrs["source_trial"] for t in trials} == {ranked[0]}

    # Two more seeds queued: a worker on the confirmation study runs them and then stops
    # ("queue empty"), sampling no configuration of its own even after a failed repeat.
    search._confirm.queue_repeats("s", "sqlite:///hpsearch.db", 1, 4)
    linked, _ = _confirm_trials()
    waiting = [t for t in linked.trials if t.state == TrialState.WAITING]
    linked._storage.set_trial_state_values(waiting[0]._trial_id, state=TrialState.FAIL)
    code, out, err = hpsearch(capsys, "worker", "--study", "s-confirm", "--quiet")
    assert code == 0, err
    assert "stopped by queue empty" in out
    _, trials = _confirm_trials()
    assert len(trials) == 4
    assert all(t.user_attrs.get("source_trial") == ranked[0] for t in trials)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confirm", "0"], "--confirm must be at least 1 (trials to re-train), but got 0"),
        (
            ["--confirm", "4"],
            "--confirm 4 asks for the best 4 trials, but study 's' has 3 completed; accepted: 1..3",
        ),
        (
            ["--confirm", "2", "--seeds", "1"],
            "--seeds must be at least 2 (a standard deviation needs two runs), but got 1",
        ),
        (["--seeds", "3"], "--seeds and --queue-only go with --confirm K"),
        (["--confirm", "two"], "Invalid value for '--confirm'"),
    ],
)
def test_bad_counts_are_one_line_and_exit_2(study, capsys, args, message):
    code, out, err = hpsearch(capsys, "best", "--study", "s", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert "s-confirm" not in optuna.get_all_study_names("sqlite:///hpsearch.db")


def test_a_requeued_repeat_keeps_its_seed():
    study = optuna.create_study()
    trial = optuna.trial.create_trial(
        params={"x": 1.0},
        distributions={"x": optuna.distributions.FloatDistribution(0, 2)},
        user_attrs={"seed": 7, "source_trial": 3, "val_history": []},
        state=TrialState.FAIL,
    )
    _requeue(study, trial)
    copy = study.get_trials(states=(TrialState.WAITING,))[0]
    assert copy.user_attrs == {"seed": 7, "source_trial": 3, "requeued_from": trial.number}
