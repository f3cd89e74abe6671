"""``[[known_good]]``: configurations people knew to do well run first, after the baseline."""

from __future__ import annotations

import optuna
import pytest
from cli_helpers import hpsearch
from optuna.trial import TrialState

from search import load_config
from search._config import read_config_file
from search._presets import preset_names, preset_path

# Digits (built in) with a tiny space: each trial is one epoch of a small GRU.
CONFIG = """
study = "kg"
n_trials = 3
epochs = 1
[pruner]
name = "nop"
[space]
cell = {type = "categorical", choices = ["rnn", "gru", "lstm"]}
hidden_size = {type = "int", low = 8, high = 32}
embedding_dim = 8
batch_size = 64
lr = {type = "float", low = 1e-3, high = 1e-1, log = true}
[baseline]
cell = "gru"
hidden_size = 16
lr = 0.01
[[known_good]]
cell = "lstm"
hidden_size = 24
lr = 0.02
[[known_good]]
cell = "rnn"
hidden_size = 8
lr = 0.005
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(CONFIG)
    return tmp_path


def _chosen(trial):
    params = trial.params or trial.system_attrs["fixed_params"]
    return (params["cell"], params["hidden_size"], params["lr"])


def test_known_good_run_in_order_after_the_baseline(folder, capsys):
    # Twice: the queue is idempotent, as for the baseline alone.
    for _ in range(2):
        code, _, err = hpsearch(capsys, "create", "--config", "study.toml", "--enqueue-baseline")
        assert code == 0, err
    study = optuna.load_study(study_name="kg", storage="sqlite:///hpsearch.db")
    assert [_chosen(t) for t in study.trials] == [
        ("gru", 16, 0.01),
        ("lstm", 24, 0.02),
        ("rnn", 8, 0.005),
    ]
    assert [t.user_attrs.get("known_good") for t in study.trials] == [None, 0, 1]

    code, out, err = hpsearch(capsys, "run", "--config", "study.toml", "--no-progress")
    assert code == 0, err
    study = optuna.load_study(study_name="kg", storage="sqlite:///hpsearch.db")
    ran = sorted(study.trials, key=lambda t: t.datetime_start)
    assert [t.state for t in ran] == [TrialState.COMPLETE] * 3
    assert [_chosen(t) for t in ran] == [("gru", 16, 0.01), ("lstm", 24, 0.02), ("rnn", 8, 0.005)]


def test_known_good_without_a_baseline_is_enough_to_enqueue(folder, capsys):
    text = CONFIG.split("[baseline]")[0] + "[[known_good]]" + CONFIG.split("[[known_good]]")[1]
    (folder / "study.toml").write_text(text)
    code, _, err = hpsearch(capsys, "create", "--config", "study.toml", "--enqueue-baseline")
    assert code == 0, err
    study = optuna.load_study(study_name="kg", storage="sqlite:///hpsearch.db")
    assert [_chosen(t) for t in study.trials] == [("lstm", 24, 0.02)]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'cell = "gru"\nhidden = 16',
            "known_good[1] parameter 'hidden' is not a hyperparameter of task 'classification'",
        ),
        (
            "hidden_size = 500",
            "known_good[1] hidden_size=500 lies outside space.hidden_size",
        ),
        (
            'cell = "transformer"',
            "known_good[1] cell='transformer' lies outside space.cell",
        ),
        (
            'scheduler = "cosine"',
            "known_good[1] sets 'scheduler', which the search space leaves out",
        ),
    ],
)
def test_a_bad_known_good_entry_is_one_line_naming_it(folder, capsys, entry, message):
    # The bad entry replaces the second (rnn) one, so it is known_good[1].
    kept = CONFIG.rsplit("[[known_good]]", 1)[0]
    (folder / "study.toml").write_text(f"{kept}[[known_good]]\n{entry}\n")
    code, out, err = hpsearch(capsys, "create", "--config", "study.toml", "--enqueue-baseline")
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert optuna.get_all_study_names("sqlite:///hpsearch.db") == []


def test_known_good_must_be_tables(folder, capsys):
    (folder / "study.toml").write_text(CONFIG.split("[pruner]")[0] + "known_good = [1, 2]\n")
    code, _, err = hpsearch(capsys, "create", "--config", "study.toml")
    assert code == 2
    assert "known_good must be a list of tables of parameters ([[known_good]] in TOML)" in err


def preset_vectors(preset: str) -> str | None:
    """A vectors path for a preset whose every trial needs one (imdb_vectors), else None."""
    space = read_config_file(preset_path(preset)).get("space", {})
    return "given.txt" if space.get("pretrained") is True else None


@pytest.mark.parametrize("preset", preset_names())
def test_every_presets_known_good_fits_its_space(preset):
    config = load_config(None, preset=preset, data="given.csv", vectors=preset_vectors(preset))
    entries = config.known_good_params()  # raises on an entry outside the space
    assert len(entries) == len(config.known_good)
    for entry in entries:
        assert entry != config.baseline_params()
        # One configuration each: nothing active in it is left to the sampler.
        chosen: dict = {}
        for parameter in config.search_space().parameters:
            if parameter.active(chosen):
                value = parameter.value if parameter.kind == "fixed" else entry.get(parameter.name)
                assert value is not None, f"{preset} known_good leaves {parameter.name} open"
                chosen[parameter.name] = value


def test_the_trec_preset_lists_a_known_good_configuration():
    config = load_config(None, preset="trec", data="given.label")
    assert [entry["hidden_size"] for entry in config.known_good_params()] == [61]


def test_the_queued_reference_trials_are_never_pruned(folder, monkeypatch):
    """The baseline and known-good trials train every epoch; a sampled trial is pruned."""
    import search
    from search._study_config import StudyConfig

    class AlwaysPrune(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    monkeypatch.setattr(StudyConfig, "build_pruner", lambda self: AlwaysPrune())
    config = load_config(
        "study.toml", n_trials=4, epochs=2, storage=f"sqlite:///{folder}/pruned.db"
    )
    search.run_study(config, progress=False, enqueue_baseline_trial=True)
    study = optuna.load_study(study_name="kg", storage=config.storage)
    by_kind = {
        ("baseline" if t.user_attrs.get("baseline") else t.user_attrs.get("known_good")): t
        for t in study.trials
    }
    for kind in ("baseline", 0, 1):
        assert by_kind[kind].state == TrialState.COMPLETE, kind
        assert sorted(by_kind[kind].intermediate_values) == [0, 1]
    assert by_kind[None].state == TrialState.PRUNED and by_kind[None].last_step == 0


# The user's file narrows the TREC preset's space: its known-good (hidden_size 61) no longer
# fits, and it is the preset's, so it is left out with a warning, not an error to fix.
NARROWING = """
n_trials = 2
epochs = 1
[pruner]
name = "nop"
[space]
hidden_size = 8
embedding_dim = 8
[baseline]
hidden_size = 8
"""


def _questions(folder):
    lines = [f"{'NUM:count' if i % 2 else 'HUM:ind'} question number {i} ?" for i in range(60)]
    (folder / "q.label").write_text("\n".join(lines) + "\n")


def test_a_presets_known_good_outside_the_users_narrower_space_is_left_out(folder, capsys, caplog):
    _questions(folder)
    (folder / "narrow.toml").write_text(NARROWING)
    code, _, err = hpsearch(
        capsys, "run", "--preset", "trec", "-c", "narrow.toml", "--data", "q.label",
        "--enqueue-baseline", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    (warning,) = {r.getMessage() for r in caplog.records if r.levelname == "WARNING"}
    assert warning.startswith("known_good[0] hidden_size=61 lies outside space.hidden_size (8)")
    assert "so it is left out" in warning
    study = optuna.load_study(study_name="trec", storage="sqlite:///hpsearch.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert study.trials[0].user_attrs.get("baseline")
    assert not [t for t in study.trials if "known_good" in t.user_attrs]
    assert study.user_attrs["hpsearch_config"]["known_good"] == []


def test_a_known_good_of_the_users_own_outside_their_space_is_still_an_error(folder, capsys):
    _questions(folder)
    entry = "[[known_good]]\nhidden_size = 61\n"
    (folder / "narrow.toml").write_text(NARROWING + entry)
    code, out, err = hpsearch(
        capsys, "run", "--preset", "trec", "-c", "narrow.toml", "--data", "q.label"
    )
    assert code == 2 and out == ""
    assert err.startswith("error: known_good[0] hidden_size=61 lies outside space.hidden_size")
    assert len(err.strip().splitlines()) == 1
    assert not (folder / "hpsearch.db").exists()
