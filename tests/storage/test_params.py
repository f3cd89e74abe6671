"""A trial's parameters in one write: the rows of one write per parameter, one transaction."""

from __future__ import annotations

import contextlib
import logging

import optuna
import pytest
import sqlalchemy
from db_writes import write_transactions

import storage
from storage import params_in_one_write, write_trial_params


def _study(url: str, name: str, seed: int = 0) -> optuna.Study:
    return optuna.create_study(
        study_name=name,
        storage=storage.open_storage(url),
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )


def _suggest(trial: optuna.Trial) -> None:
    """Every kind of distribution, a conditional one, and a single-valued range."""
    cell = trial.suggest_categorical("cell", ["gru", "lstm", None])
    trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_int("hidden_size", 32, 512, step=32)
    trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
    trial.suggest_int("num_layers", 2, 2)  # single: Optuna stores it without sampling
    trial.suggest_categorical("bidirectional", [True, False])
    if cell == "lstm":
        trial.suggest_float("forget_bias", 0.0, 2.0)


def _stored(url: str, name: str) -> list[tuple[list, dict]]:
    """Each trial's params (in stored order) and distributions, as load_study reads them."""
    study = optuna.load_study(study_name=name, storage=storage.open_storage(url))
    return [(list(t.params.items()), t.distributions) for t in study.trials]


def test_the_stored_params_are_those_of_one_write_per_parameter(storage_url, study_name):
    held, plain = _study(storage_url, study_name), _study(storage_url, f"{study_name}_plain")
    for number in range(6):
        trial = held.ask()
        with params_in_one_write(trial):
            _suggest(trial)
        twin = plain.ask()
        _suggest(twin)
        assert trial.params == twin.params  # the trial answers without a read
        held.tell(trial, float(number))
        plain.tell(twin, float(number))
    stored = _stored(storage_url, study_name)
    assert stored == _stored(storage_url, f"{study_name}_plain")
    assert any("forget_bias" in dict(params) for params, _ in stored)  # the condition held


def test_write_trial_params_stores_the_rows_of_set_trial_param(storage_url, study_name):
    study = _study(storage_url, study_name)
    params = {
        "lr": (0.01, optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)),
        "cell": (1, optuna.distributions.CategoricalDistribution(["gru", "lstm"])),
        "layers": (2, optuna.distributions.IntDistribution(1, 3)),
    }
    held, plain = study.ask(), study.ask()
    write_trial_params(study._storage, held._trial_id, params)
    for name, (value, distribution) in params.items():
        study._storage.set_trial_param(plain._trial_id, name, value, distribution)
    stored = {t.number: (list(t.params.items()), t.distributions) for t in study.trials}
    assert stored[held.number] == stored[plain.number]
    assert stored[held.number][0] == [("lr", 0.01), ("cell", "lstm"), ("layers", 2)]


def test_a_database_gets_one_write_transaction_for_all_params(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    study.tell(study.ask(), 0.0)  # a second process (fresh cache) reads the first trial's
    study = optuna.load_study(
        study_name=study_name,
        storage=storage.open_storage(rdb_url),
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    writes = write_transactions(study)
    for _ in range(3):  # the first with Optuna's distribution cache empty, then full
        trial = study.ask()
        before = len(writes)
        with params_in_one_write(trial):
            _suggest(trial)
            assert len(writes) == before  # held until the block ends
            assert study._storage.get_trial(trial._trial_id).params == {}
        assert len(writes) == before + 1
        study.tell(trial, 1.0)
    trial = study.ask()
    before = len(writes)
    _suggest(trial)
    assert len(writes) - before == len(trial.params)  # what one write per parameter costs


def test_journal_and_memory_storages_write_at_once(tmp_path, study_name):
    journal = _study(f"journal://{tmp_path}/studies.log", study_name)
    for study in (journal, optuna.create_study()):
        trial = study.ask()
        with params_in_one_write(trial):
            trial.suggest_float("lr", 1e-3, 1e-1, log=True)
            assert study._storage.get_trial(trial._trial_id).params == trial.params
        study.tell(trial, 1.0)


@pytest.mark.parametrize(
    "changed",
    [
        lambda t: t.suggest_categorical("cell", ["gru", "lstm", "rnn"]),  # other choices
        lambda t: t.suggest_float("lr", 1e-5, 1e-1),  # log flag dropped
        lambda t: t.suggest_int("lr", 1, 10),  # another kind
    ],
)
@pytest.mark.parametrize("fresh_process", [False, True])
def test_an_incompatible_distribution_raises_as_optuna_does(
    rdb_url, study_name, changed, fresh_process
):
    """Optuna's ValueError, and the params before it stored, whether this process has the
    name in Optuna's cache (checked at the call) or not (checked in the write)."""
    studies = {}
    for name in (study_name, f"{study_name}_plain"):
        studies[name] = _study(rdb_url, name)
        first = studies[name].ask()
        _suggest(first)
        studies[name].tell(first, 1.0)
    errors = []
    for name, hold in ((study_name, True), (f"{study_name}_plain", False)):
        study = studies[name]
        if fresh_process:
            study = optuna.load_study(
                study_name=name,
                storage=storage.open_storage(rdb_url),
                sampler=optuna.samplers.RandomSampler(seed=0),
            )
        trial = study.ask()
        reached = []
        writes = params_in_one_write(trial) if hold else contextlib.nullcontext()
        with pytest.raises(ValueError) as raised, writes:
            trial.suggest_int("hidden_size", 32, 512, step=32)
            changed(trial)
            reached.append(trial.suggest_float("after", 0.0, 1.0))
        errors.append(str(raised.value))
        assert list(trial.params) == ["hidden_size"]
        # Optuna raises at the call; held, too, where its cache knows the name.
        assert bool(reached) == (hold and fresh_process)
    assert errors[0] == errors[1]
    held, plain = _stored(rdb_url, study_name), _stored(rdb_url, f"{study_name}_plain")
    assert [list(dict(p)) for p, _ in held] == [list(dict(p)) for p, _ in plain]
    assert [list(dict(p)) for p, _ in held][1] == ["hidden_size"]


def test_an_error_in_the_block_keeps_what_was_suggested_before_it(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    trial = study.ask()
    with pytest.raises(RuntimeError), params_in_one_write(trial):
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        trial.suggest_int("hidden_size", 32, 64)
        raise RuntimeError("the objective failed while suggesting")
    assert list(study._storage.get_trial(trial._trial_id).params) == ["lr", "hidden_size"]


def test_a_finished_trial_refuses_the_write_and_keeps_its_params(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1e-1)
    study.tell(trial, 1.0)
    distribution = optuna.distributions.IntDistribution(1, 3)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        write_trial_params(study._storage, trial._trial_id, {"layers": (2.0, distribution)})
    assert list(study.trials[0].params) == ["lr"]


def test_writing_the_same_params_again_stores_each_once(rdb_url, study_name):
    """What makes a retry after a lost commit reply safe: the stored names are skipped."""
    study = _study(rdb_url, study_name)
    trial = study.ask()
    distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
    params = {"a": (0.25, distribution), "b": (0.5, distribution)}
    write_trial_params(study._storage, trial._trial_id, params)
    write_trial_params(study._storage, trial._trial_id, {**params, "c": (0.75, distribution)})
    assert study._storage.get_trial(trial._trial_id).params == {"a": 0.25, "b": 0.5, "c": 0.75}


def test_a_write_whose_commit_reply_was_lost_is_retried_once(
    rdb_url, study_name, monkeypatch, caplog
):
    monkeypatch.setenv("HPSEARCH_DB_RETRY_SECONDS", "5")
    study = _study(rdb_url, study_name)
    trial = study.ask()
    engine = study._storage._backend.engine
    sessions = study._storage._backend.scoped_session.session_factory
    inserts: list[int] = []
    lost: list[int] = []

    def executing(connection, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TRIAL_PARAMS"):
            inserts.append(1)

    def after_commit(session) -> None:
        # The rows are committed, but the client hears of a dropped connection.
        if inserts and not lost:
            lost.append(1)
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, ConnectionError("reply lost"))

    sqlalchemy.event.listen(engine, "before_cursor_execute", executing)
    sqlalchemy.event.listen(sessions, "after_commit", after_commit)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="hpsearch.storage"),
            params_in_one_write(trial),
        ):
            trial.suggest_float("lr", 1e-3, 1e-1, log=True)
            trial.suggest_int("hidden_size", 32, 64)
    finally:
        sqlalchemy.event.remove(sessions, "after_commit", after_commit)
    assert lost and "retry 1" in caplog.text
    assert len(inserts) == 1  # the retry found both rows and inserted nothing
    reloaded = optuna.load_study(study_name=study_name, storage=storage.open_storage(rdb_url))
    assert list(reloaded.trials[0].params) == ["lr", "hidden_size"]


def test_params_set_before_sampling_can_be_written_at_once(rdb_url, study_name):
    """For samplers that read the running trial's stored params when they first propose."""
    study = _study(rdb_url, study_name)
    study.enqueue_trial({"lr": 0.01})
    trial = study.ask()
    with params_in_one_write(trial, write_before_sampling=True):
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)  # fixed by the queue: no sampling
        trial.suggest_int("layers", 2, 2)  # single-valued: no sampling either
        assert list(study._storage.get_trial(trial._trial_id).params) == ["lr", "layers"]
        trial.suggest_int("hidden_size", 32, 64)  # the sampler's first call
        trial.suggest_float("dropout", 0.0, 0.5)
        assert list(study._storage.get_trial(trial._trial_id).params) == ["lr", "layers"]
    assert list(study._storage.get_trial(trial._trial_id).params) == [
        "lr",
        "layers",
        "hidden_size",
        "dropout",
    ]


def test_a_fixed_trial_is_left_alone():
    trial = optuna.trial.FixedTrial({"lr": 0.01})
    with params_in_one_write(trial):
        assert trial.suggest_float("lr", 1e-3, 1e-1) == 0.01


def test_what_the_sampler_records_goes_in_the_same_write_even_after_a_refusal(rdb_url, study_name):
    study = _study(rdb_url, study_name)
    first = study.ask()
    first.suggest_float("lr", 1e-4, 1e-1)
    study.tell(first, 0.0)
    trial, other = study.ask(), study.ask()
    elsewhere = storage.open_storage(rdb_url)  # another process's view
    real = study._storage
    with pytest.raises(ValueError), params_in_one_write(trial):
        trial.suggest_int("layers", 1, 3)
        # What a sampler does while it proposes (TPE's relative params for constant liar).
        study._storage.set_trial_system_attr(trial._trial_id, "sampler:state", [1, 2])
        study._storage.set_trial_system_attr(other._trial_id, "not held", 1)
        assert elsewhere.get_trial(other._trial_id).system_attrs == {"not held": 1}
        assert "sampler:state" not in elsewhere.get_trial(trial._trial_id).system_attrs
        trial.suggest_categorical("lr", ["a", "b"])  # the study has lr as a float
    stored = elsewhere.get_trial(trial._trial_id)
    assert stored.system_attrs["sampler:state"] == [1, 2]
    assert stored.params == {"layers": trial.params["layers"]}
    assert study._storage is real and trial.storage is real  # the real storage is back
