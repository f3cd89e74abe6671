"""Every task through the one objective: tagger, MLP, entity metrics, folds, schedules."""

from __future__ import annotations

import optuna
import pytest
import torch

from objectives import (
    CharEncoderConfig,
    EncoderConfig,
    ObjectiveError,
    ObjectiveSettings,
    SequenceTagger,
    TaggerConfig,
    TaskObjective,
    load_tabular_builtin,
    make_task,
    model_from_checkpoint,
)
from objectives._metrics import EntityMetrics
from objectives._training import evaluate
from objectives.data import SplitSettings
from objectives.data._readers import TaggedCorpus
from objectives.data._tagged import build_tagging_data
from objectives.data._text import IGNORE_INDEX

SENTENCES = [
    (["John", "lives", "in", "Kyiv", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
    (["Mary", "Smith", "visited", "Paris"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["The", "city", "of", "Lviv", "is", "old"], ["O", "O", "O", "B-LOC", "O", "O"]),
    (["Anna", "went", "home"], ["B-PER", "O", "O"]),
]


def corpus(repeat: int = 12) -> TaggedCorpus:
    rows = SENTENCES * repeat
    return TaggedCorpus([list(s) for s, _ in rows], [list(t) for _, t in rows], "toy")


@pytest.mark.parametrize("chars", [None, "cnn", "rnn"])
def test_tagger_padding_does_not_change_tags(chars):
    torch.manual_seed(0)
    char_config = CharEncoderConfig(n_characters=30, hidden_size=6, kind=chars) if chars else None
    extra = char_config.output_size if char_config else 0
    encoder = EncoderConfig(
        cell="lstm", hidden_size=8, bidirectional=True, vocabulary_size=20, extra_features=extra
    )
    model = SequenceTagger(TaggerConfig(encoder, n_tags=4, chars=char_config)).eval()
    tokens, padded = torch.tensor([[5, 6, 7]]), torch.tensor([[5, 6, 7, 0, 0]])
    letters = torch.randint(2, 30, (1, 3, 4))
    padded_letters = torch.cat([letters, torch.zeros(1, 2, 4, dtype=torch.long)], dim=1)
    short = model(tokens, torch.tensor([3]), letters)
    long = model(padded, torch.tensor([3]), padded_letters)
    assert short.shape == (1, 3, 4)
    torch.testing.assert_close(short, long[:, :3])


def test_entity_metrics_ignore_padding_and_match_seqeval():
    data = build_tagging_data(corpus(1), None, kind="ner", split=SplitSettings(test_fraction=0.25))
    split = data.train
    task = make_task("ner", data)
    metrics: EntityMetrics = task.new_metrics(split)  # type: ignore[assignment]
    # Perfect logits from the gold tags: every entity found, whatever sits under padding.
    gold = split.labels.clamp(min=0)
    logits = torch.nn.functional.one_hot(gold, len(data.label_names)).float()
    logits[split.labels == IGNORE_INDEX] = torch.randn(len(data.label_names))
    from objectives.data._text import Batch

    metrics.update(
        logits, Batch(split.inputs, split.lengths, split.labels, None, torch.arange(len(split)))
    )
    scores = metrics.compute()
    assert scores["f1"] == scores["precision"] == scores["recall"] == 1.0
    assert set(scores["per_type_f1"]) <= {"PER", "LOC"}


@pytest.mark.parametrize("kind", ["ner", "pos"])
def test_tagger_learns_through_the_shared_objective(kind):
    rows = corpus()
    if kind == "pos":  # POS-like tags: entity or not
        rows.tags = [["X" if t != "O" else "W" for t in tags] for tags in rows.tags]
    data = build_tagging_data(rows, None, kind=kind)
    params = {
        "hidden_size": 16, "embedding_dim": 8, "lr": 0.02, "batch_size": 8,
        "char_embedding_dim": 8, "bidirectional": True,
    }  # fmt: skip
    saved = {}
    objective = TaskObjective(
        make_task(kind, data),
        lambda trial: params,
        ObjectiveSettings(objectives=("f1" if kind == "ner" else "accuracy",), max_epochs=6),
        save_checkpoint=lambda trial, checkpoint: saved.update(checkpoint),
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    trial = study.best_trial
    assert trial.value > 0.8
    if kind == "ner":
        assert set(trial.user_attrs["per_type_f1"]) == {"PER", "LOC"}
    else:
        assert trial.user_attrs["best_metrics"]["top3_accuracy"] == 1.0
    model, info = model_from_checkpoint(saved)
    assert info["kind"] == "sequence_tagger" and info["task"] == kind
    again = evaluate(
        model, data.validation, metrics=make_task(kind, data).new_metrics(data.validation)
    )
    assert again[objective.settings.metric] == pytest.approx(trial.value)


def test_mlp_with_per_layer_widths_learns_wine_and_reloads():
    task = make_task("tabular", load_tabular_builtin("wine"))
    params = {
        "n_layers": 2,
        "hidden_size_1": 32,
        "hidden_size_2": 8,
        "activation": "gelu",
        "lr": 0.01,
    }
    saved = {}
    objective = TaskObjective(
        task,
        lambda trial: params,
        ObjectiveSettings(objectives=("macro_f1",), max_epochs=15),
        save_checkpoint=lambda trial, checkpoint: saved.update(checkpoint),
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    assert study.best_value > 0.85
    model, info = model_from_checkpoint(saved)
    assert [m.out_features for m in model.layers if isinstance(m, torch.nn.Linear)] == [32, 8, 3]
    assert len(info["mean"]) == len(info["feature_names"]) == 13


def test_folds_report_the_mean_and_keep_each_fold():
    task = make_task("tabular", load_tabular_builtin("iris"))
    study = optuna.create_study(direction="maximize")
    settings = ObjectiveSettings(objectives=("accuracy",), max_epochs=3, folds=3)
    study.optimize(TaskObjective(task, lambda t: {"lr": 0.01}, settings), n_trials=1)
    trial = study.best_trial
    folds = trial.user_attrs["fold_values"]
    assert len(folds) == 3 and all(len(values) == 3 for values in folds)
    for epoch, reported in trial.intermediate_values.items():
        assert reported == pytest.approx(sum(values[epoch] for values in folds) / 3)
    assert trial.user_attrs["fold_best"] == [v[trial.user_attrs["best_epoch"]] for v in folds]


def test_a_metric_of_another_task_is_named():
    task = make_task("tabular", load_tabular_builtin("iris"))
    with pytest.raises(ObjectiveError, match="metric 'f1' is not reported by task 'tabular'"):
        TaskObjective(task, lambda t: {}, ObjectiveSettings(objectives=("f1",)))


def test_classification_and_tabular_folds_are_stratified():
    # wine: 59 / 71 / 48 rows per class; every fold gets its share of each, to one row.
    task = make_task("tabular", load_tabular_builtin("wine"))
    pool = torch.cat([task.train.labels, task.validation.labels])
    totals = torch.bincount(pool)
    folds = task.folds(5, seed=0)
    seen = torch.zeros_like(totals)
    for train, validation in folds:
        counts = torch.bincount(validation.labels, minlength=len(totals))
        assert ((counts - totals / 5).abs() <= 1).all(), counts
        assert len(train) + len(validation) == len(pool)
        seen += counts
    assert torch.equal(seen, totals)  # each row is validated exactly once
    assert [len(v) for _, v in task.folds(5, seed=0)] == [len(v) for _, v in folds]
