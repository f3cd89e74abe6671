from __future__ import annotations

import torch
from sklearn.metrics import accuracy_score, f1_score

from objectives import build_classifier, classification_metrics, evaluate, load_classification_data
from objectives._training import TrainSteps, bucketed_batches, confusion_matrix, train_epoch


def test_bucketed_batches_cover_every_example_once_with_less_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 200, (1000,))
    batches = bucketed_batches(lengths, 32, generator)
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))

    def padding(batches):
        return sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)

    random_batches = list(torch.randperm(1000, generator=generator).split(32))
    assert padding(batches) < padding(random_batches) / 3


def test_metrics_match_scikit_learn():
    gold = torch.tensor([0, 0, 1, 1, 2, 2, 2, 1])
    predicted = torch.tensor([0, 1, 1, 1, 2, 0, 2, 2])
    metrics = classification_metrics(confusion_matrix(predicted, gold, 3))
    assert abs(metrics["accuracy"] - accuracy_score(gold, predicted)) < 1e-12
    assert abs(metrics["macro_f1"] - f1_score(gold, predicted, average="macro")) < 1e-12


def test_a_few_epochs_learn_digits():
    torch.manual_seed(0)
    data = load_classification_data("digits")
    model, optimizer_config = build_classifier({"cell": "gru", "hidden_size": 32, "lr": 1e-2}, data)
    optimizer = optimizer_config.build(model)
    before = evaluate(model, data.validation, 10)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        train_epoch(TrainSteps(model, optimizer, optimizer_config), data.train, generator)
    after = evaluate(model, data.validation, 10)
    assert after["loss"] < before["loss"]
    assert after["accuracy"] > 0.6
