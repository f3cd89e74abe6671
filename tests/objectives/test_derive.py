"""Spaces fitted to the data: lengths, vocabulary cut-offs and learning rates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from objectives import TaskConfig
from objectives.data import SplitSettings, load_tabular_builtin
from objectives.data._encoding import build_text_data
from objectives.data._readers import TaggedCorpus
from objectives.data._tagged import build_tagging_data
from objectives.tasks import ClassificationTask, NerTask, TabularTask
from objectives.tasks._derive import (
    MIN_TOKEN_COVERAGE,
    length_choices,
    lr_spec,
    min_freq_spec,
    token_coverage,
)

COMMON = ["good", "bad", "film", "plot", "actor", "great", "awful", "scene"]


def texts(n: int, longest: int, rare_share: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` texts of 3..``longest`` tokens; ``rare_share`` of the tokens are seen once."""
    rng = random.Random(seed)
    rows, labels, unique = [], [], 0
    for i in range(n):
        words = []
        for _ in range(rng.randint(3, longest)):
            if rng.random() < rare_share:
                words.append(f"rare{unique}")
                unique += 1
            else:
                words.append(rng.choice(COMMON))
        rows.append(" ".join(words))
        labels.append("pos" if i % 2 else "neg")
    return rows, labels


def task_on(rows: list[str], labels: list[str]) -> ClassificationTask:
    data = build_text_data(rows, labels, split=SplitSettings(seed=0), max_length=400)
    return ClassificationTask(data)


def default_space(epochs: int = 3) -> dict:
    return ClassificationTask.default_space(TaskConfig(data="reviews.csv"), epochs)


def derive(task, space=None, given=(), keep=None, epochs: int = 3):
    return task.derive_space(
        space or default_space(epochs), given=given, epochs=epochs, keep=keep or {}
    )


def test_short_texts_get_no_length_choice_beyond_their_longest():
    task = task_on(*texts(200, longest=20, rare_share=0.0))
    derived = derive(task)
    choices = derived.updates["max_length"]["choices"]
    assert max(choices) <= 20 and 20 in choices  # p99 of 3..20 tokens rounds up past 16
    assert choices == sorted(set(choices)) and len(choices) >= 2
    stats = derived.statistics["max_length"]
    assert stats["longest"] == 20 and stats["percentiles"]["p50"] <= stats["percentiles"]["p99"]


def test_long_texts_get_choices_near_their_percentiles():
    lengths = np.array([279] * 60 + [600] * 35 + [900] * 5)
    choices, stats = length_choices(lengths)
    assert choices == [280, 600, 900]  # p50 279 rounds up to 280; p99 900 is the longest
    assert stats["longest"] == 900


def test_a_baseline_length_stays_possible():
    choices, _ = length_choices(np.array([5, 6, 7, 8]), keep=[64])
    assert 64 in choices


def test_min_freq_keeps_only_cut_offs_with_high_token_coverage():
    rare = task_on(*texts(200, longest=12, rare_share=0.2))
    counts = rare.data.token_counts
    assert token_coverage(counts, 1) == 1.0
    assert token_coverage(counts, 2) < MIN_TOKEN_COVERAGE  # a fifth of the tokens are singletons
    derived = derive(rare)
    assert derived.updates["min_freq"] == 1
    coverage = derived.statistics["min_freq"]["coverage"]
    assert set(coverage) == {"1", "2", "3", "4", "5"} and coverage["2"] < 0.95

    common = task_on(*texts(200, longest=12, rare_share=0.0))
    assert derive(common).updates["min_freq"] == {"type": "int", "low": 1, "high": 5}


def test_min_freq_between_the_extremes_is_a_range_and_keeps_the_baseline():
    counts = [0, 0, 50, 40, 3, 3, 3, 2, 2, 1, 1, 1, 1]  # 107 tokens, 4 of them singletons
    spec, stats = min_freq_spec({"type": "int", "low": 1, "high": 10}, counts)
    assert spec == {"type": "int", "low": 1, "high": 2}
    assert stats["coverage"]["2"] == round(103 / 107, 4)
    assert stats["coverage"]["3"] == round(99 / 107, 4) < 0.95
    spec, _ = min_freq_spec({"type": "int", "low": 1, "high": 10}, counts, keep=[10])
    assert spec == {"type": "categorical", "choices": [1, 2, 10]}


def test_explicit_dimensions_are_left_alone():
    task = task_on(*texts(200, longest=20, rare_share=0.2))
    space = default_space()
    space["max_length"] = {"type": "categorical", "choices": [128, 256]}
    derived = derive(task, space, given={"max_length", "min_freq", "lr"})
    assert derived.updates == {}


def test_few_steps_raise_adams_lowest_learning_rate():
    task = task_on(*texts(200, longest=12, rare_share=0.0))  # 128 training texts: 1 batch
    derived = derive(task, epochs=3)
    lr = derived.updates["lr"]
    assert lr["high"] == 3e-2 and lr["log"] is True
    assert lr["low"] == pytest.approx(3e-3)  # at most high / 10, never below 0.2 / 3 steps
    assert derived.statistics["lr"]["fewest_steps"] == 3
    kept = derive(task, keep={"lr": [1e-3]}).updates["lr"]
    assert kept["low"] == 1e-3  # the hand-tuned baseline's rate stays possible
    assert "lr" not in derive(task, keep={"lr": [1e-4]}).updates  # nothing left to raise


def test_many_steps_keep_the_default_rates():
    spec = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    derived, stats = lr_spec(
        spec, optimizers=["adam", "adamw"], n_train=20_000, batch_sizes=[16, 64], epochs=15
    )
    assert derived == spec and stats["fewest_steps"] == 15 * 313


def test_sgd_gets_higher_rates_than_adam():
    spec = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    sgd, _ = lr_spec(spec, optimizers=["sgd"], n_train=20_000, batch_sizes=[64], epochs=10)
    assert sgd["low"] == 1e-2 and sgd["high"] == 0.3
    both, _ = lr_spec(spec, optimizers=["adam", "sgd"], n_train=20_000, batch_sizes=[64], epochs=10)
    assert both["low"] == 1e-4 and both["high"] == 0.3


def test_feature_data_fits_only_the_learning_rate():
    tabular = TabularTask(load_tabular_builtin("iris"))
    space = TabularTask.default_space(TaskConfig(name="tabular", data="iris"), 5)
    derived = derive(tabular, space, epochs=5)
    assert set(derived.updates) <= {"lr"}


def test_tagging_fits_min_freq_but_has_no_length_dimension():
    sentences = [["John", "lives", "in", "Kyiv", f"w{i}"] for i in range(40)]
    tags = [["B-PER", "O", "O", "B-LOC", "O"]] * 40
    corpus = TaggedCorpus(sentences, [list(t) for t in tags], "toy")
    task = NerTask(build_tagging_data(corpus, None, kind="ner", split=SplitSettings()))
    space = NerTask.default_space(TaskConfig(name="ner"), 5)
    derived = derive(task, space, epochs=5)
    assert "max_length" not in derived.updates
    assert "min_freq" in derived.statistics
