"""Studies with a known structure for the report tests, built with ask/tell in a second.

They are built in memory and then copied into the test's storage in one write per trial: the
same trials told straight into SQLite cost a commit per report and attribute (a minute for
one study on a loaded 2-core machine).

Nothing is trained: every trial's parameters are queued with ``enqueue_trial`` and its value
is a known function of them, plus noise. The trials carry the user attributes the reports
read (``baseline``, ``train_seconds``, ``n_parameters``, ``device``, ``epochs_run``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
from optuna.trial import TrialState

import storage

#: The decisive parameter and its known best level.
HIDDEN_SIZES = [8, 16, 32, 64, 128, 256, 512]
BEST_HIDDEN_SIZE = 128
#: The do-nothing parameter: 9 levels, like an imported old sweep.
EMBEDDING_DIMS = [16, 32, 48, 64, 96, 128, 192, 256, 384]
#: Parameters that never vary (one of them could: its distribution has two choices).
SINGLE_VALUED = {"optimizer": "adam", "batch_size": 32}
MAX_EPOCHS = 5
BASELINE = {"hidden_size": 32, "embedding_dim": 64}


def accuracy_of(hidden_size: int, cell: str) -> float:
    """The noiseless accuracy: a peak at :data:`BEST_HIDDEN_SIZE`, a small cell effect."""
    peak = math.log2(BEST_HIDDEN_SIZE)
    return 0.9 - 0.04 * (math.log2(hidden_size) - peak) ** 2 + {"lstm": 0.01}.get(cell, 0.0)


def known_structure_study(
    sqlite_url: str | None, name: str = "known", wide: bool = False, seed: int = 0
) -> optuna.Study:
    """A study over ``hidden_size`` (decisive, best 128) x ``embedding_dim`` (does nothing).

    Every combination is one trial (63); trial 0 is the baseline; every fourth trial is
    pruned after 2 epochs. ``lr`` (log, continuous) and ``cell`` vary at random; the
    :data:`SINGLE_VALUED` parameters never vary. With ``wide`` the study has 12 varying
    parameters (8 more that do nothing) and 14 in all. Without ``sqlite_url`` the study stays
    in memory.
    """
    study = optuna.create_study(
        study_name=name, storage=optuna.storages.InMemoryStorage(), direction="maximize"
    )
    study.set_user_attr("metric", "accuracy")
    study.set_user_attr("metric_names", ["accuracy"])
    study.set_user_attr("max_epochs", MAX_EPOCHS)
    rng = np.random.default_rng(seed)
    grid = list(itertools.product(HIDDEN_SIZES, EMBEDDING_DIMS))
    grid.remove((BASELINE["hidden_size"], BASELINE["embedding_dim"]))
    grid.insert(0, (BASELINE["hidden_size"], BASELINE["embedding_dim"]))
    for index, (hidden_size, embedding_dim) in enumerate(grid):
        params = {
            "hidden_size": hidden_size,
            "embedding_dim": embedding_dim,
            "lr": float(10 ** rng.uniform(-4, -1)),
            "cell": str(rng.choice(["rnn", "gru", "lstm"])),
            **SINGLE_VALUED,
        }
        if wide:
            params.update(
                weight_decay=float(10 ** rng.uniform(-6, -2)),
                dropout=float(rng.uniform(0, 0.5)),
                grad_clip=float(rng.uniform(0.5, 5)),
                min_freq=int(rng.integers(1, 6)),
                max_length=int(rng.integers(32, 257)),
                aggregation=str(rng.choice(["last", "mean", "max"])),
                bidirectional=bool(rng.integers(0, 2)),
                num_layers=int(rng.integers(1, 4)),
            )
        study.enqueue_trial(params, user_attrs={"baseline": True} if index == 0 else None)
        trial = study.ask()
        trial.suggest_int("hidden_size", 8, 512, log=True)
        trial.suggest_int("embedding_dim", 16, 384)
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        cell = trial.suggest_categorical("cell", ["rnn", "gru", "lstm"])
        trial.suggest_categorical("optimizer", ["adam", "sgd"])
        trial.suggest_int("batch_size", 16, 128, log=True)
        if wide:
            trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
            trial.suggest_float("dropout", 0.0, 0.5)
            trial.suggest_float("grad_clip", 0.5, 5.0)
            trial.suggest_int("min_freq", 1, 5)
            trial.suggest_int("max_length", 32, 256)
            trial.suggest_categorical("aggregation", ["last", "mean", "max"])
            trial.suggest_categorical("bidirectional", [False, True])
            trial.suggest_int("num_layers", 1, 3)
        accuracy = accuracy_of(hidden_size, cell) + float(rng.normal(0, 0.01))
        pruned = index % 4 == 3 and index > 0
        epochs = 2 if pruned else MAX_EPOCHS
        for epoch in range(epochs):
            trial.report(accuracy - 0.05 * (MAX_EPOCHS - 1 - epoch), epoch)
        trial.set_user_attr("train_seconds", 2.0 * hidden_size * epochs / MAX_EPOCHS)
        trial.set_user_attr("n_parameters", int(hidden_size * (hidden_size + embedding_dim)))
        trial.set_user_attr("device", "cpu")
        trial.set_user_attr("epochs_run", epochs)
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, accuracy)
    best = study.best_trial
    study.set_user_attr(
        "test_results", {str(best.number): {"trial": best.number, "accuracy": best.value - 0.02}}
    )
    return study if sqlite_url is None else copy_to(study, sqlite_url)


def copy_to(study: optuna.Study, url: str) -> optuna.Study:
    """``study`` (built in memory) copied into the storage at ``url``, loaded from there."""
    backend = storage.open_storage(url)
    optuna.copy_study(
        from_study_name=study.study_name, from_storage=study._storage, to_storage=backend
    )
    return optuna.load_study(study_name=study.study_name, storage=backend)
