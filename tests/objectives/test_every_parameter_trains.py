"""Every hyperparameter a built-in task reads changes what a trial trains.

A value the objective accepts and then ignores is the worst kind of search bug: the study
spends trials on it and the reports rank it. It happened: the trial loop stopped stepping
epoch schedules, and ``scheduler``, ``step_size``, ``gamma``, ``milestones``, ``patience``
and ``warmup_epochs`` trained exactly as their defaults for several releases. So each task's
parameters (all of them: a new one without a case here fails) are changed one at a time, in
the context that makes them active, and the trial's epoch history must differ.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from objectives import ObjectiveSettings, TaskObjective
from objectives.data import SplitSettings
from objectives.data._encoding import build_text_data
from objectives.data._readers import TaggedCorpus
from objectives.data._tabular import load_tabular_builtin
from objectives.data._tagged import build_tagging_data
from objectives.tasks import ClassificationTask, NerTask, TabularTask, Task

EPOCHS = 3
SPLIT = SplitSettings(seed=0)
WORDS = ["good", "bad", "film", "plot", "actor", "great", "awful", "scene", "dull", "fun"]

Case = tuple[dict[str, Any], Any]  # (what makes the parameter active, a non-default value)

TRAINING: dict[str, Case] = {
    "optimizer": ({}, "sgd"),
    "lr": ({}, 5e-2),
    "weight_decay": ({"optimizer": "adamw"}, 0.5),
    "batch_size": ({}, 16),
    "grad_clip": ({}, 1e-3),
    "epochs": ({}, EPOCHS - 1),
    "scheduler": ({}, "cosine"),
    "step_size": ({"scheduler": "step", "gamma": 0.1}, 1),
    "gamma": ({"scheduler": "step", "step_size": 1}, 0.1),
    "milestones": ({"scheduler": "multistep"}, "1"),
    "pct_start": ({"scheduler": "onecycle"}, 0.8),
    # SGD at a rate too small to move the metric (not below the plateau's eps, 1e-8,
    # either): patience 0 cuts the rate after the first stale epoch.
    "patience": ({"scheduler": "plateau", "optimizer": "sgd", "lr": 1e-6}, 0),
    "warmup_epochs": ({}, 1),
}
RECURRENT: dict[str, Case] = {
    "cell": ({}, "lstm"),
    "hidden_size": ({}, 12),
    "num_layers": ({}, 2),
    "bidirectional": ({}, True),
    "dropout": ({}, 0.5),
    "embedding_dim": ({}, 16),
    "word_dropout": ({}, 0.3),
    "min_freq": ({}, 3),  # the texts have words seen once or twice
    "max_length": ({}, 4),  # and are longer than that
    "pretrained": ({}, True),  # the tasks below have a vectors file
    "freeze_embeddings": ({"pretrained": True}, True),
    **TRAINING,
}
CASES: dict[str, dict[str, Case]] = {
    "classification": {**RECURRENT, "aggregation": ({}, "max"), "ngrams": ({}, 2)},
    "ner": {
        **RECURRENT,
        "char_embedding_dim": ({}, 16),
        "char_encoder": ({"char_embedding_dim": 16}, "rnn"),
        "char_hidden_size": ({"char_embedding_dim": 16}, 8),
        "crf": ({}, True),
    },
    "tabular": {
        "n_layers": ({}, 2),
        "hidden_size": ({}, 12),
        **{f"hidden_size_{k}": ({"n_layers": k}, 5) for k in range(1, 9)},
        "activation": ({}, "tanh"),
        "dropout": ({}, 0.5),
        **TRAINING,
    },
}
BASE = {"hidden_size": 8, "batch_size": 32, "lr": 1e-2}
TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "ner": NerTask,
    "tabular": TabularTask,
}


def _sentence(rng: random.Random) -> list[str]:
    words = [rng.choice(WORDS) for _ in range(rng.randint(5, 14))]
    if rng.random() < 0.5:
        words.append(f"rare{rng.randint(0, 300)}")  # most seen once or twice
    return words


def _vectors(path: Path, vocabulary: list[str]) -> str:
    rng = np.random.default_rng(1)
    lines = [w + " " + " ".join(map(str, rng.normal(0, 0.5, 6).round(4))) for w in vocabulary]
    path.write_text("\n".join(lines[2:]) + "\n", encoding="utf-8")  # not <pad>, <unk>
    return str(path)


@cache
def _task(name: str, folder: Path) -> Task:
    rng = random.Random(0)
    sentences = [_sentence(rng) for _ in range(160)]
    if name == "tabular":
        return TabularTask(load_tabular_builtin("wine", SPLIT))
    if name == "classification":
        labels = ["pos" if {"good", "great"} & set(s) else "neg" for s in sentences]
        data = build_text_data([" ".join(s) for s in sentences], labels, split=SPLIT)
        return ClassificationTask(data).use_vectors(_vectors(folder / "c.txt", data.vocabulary))
    tags = [["B-X" if w in ("good", "great") else "O" for w in s] for s in sentences]
    tagged = build_tagging_data(TaggedCorpus(sentences, tags, "toy"), None, kind="ner", split=SPLIT)
    task = NerTask(tagged)
    return task.use_vectors(_vectors(folder / "t.txt", tagged.vocabulary))


def _history(task: Task, params: dict[str, Any]) -> list[dict[str, Any]]:
    objective = TaskObjective(
        task, lambda trial: params, ObjectiveSettings(max_epochs=EPOCHS, seed=5)
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    return trial.user_attrs["val_history"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("every_parameter")


@pytest.mark.parametrize(
    ("task_name", "parameter"),
    [(name, parameter) for name, task in TASKS.items() for parameter in task.parameters],
)
def test_changing_one_hyperparameter_changes_the_trial(folder, task_name, parameter):
    cases = CASES[task_name]
    assert parameter in cases, f"{task_name} reads {parameter!r}: add a case for it here"
    context, value = cases[parameter]
    task = _task(task_name, folder)
    base = {**BASE, **context}
    assert task.parameters[parameter] != value and base.get(parameter) != value
    assert _history(task, base) != _history(task, {**base, parameter: value})
