"""The simple baselines of ``bench/quality.py``, fitted on a loaded task's own splits.

Both read the task's tensors, not the files, so they see exactly the training, validation
and test examples (and the tokens, cut to the task's ``max_length``) the preset's study
sees: the comparison is of methods, not of data handling.

- classification: TF-IDF over word uni- and bigrams + logistic regression, ``C`` chosen on
  the validation split (the study chooses on it too);
- tagging: each word's most frequent training tag, the overall most frequent tag for words
  never seen in training (no model of context at all).

scikit-learn is imported with this module, so its import is not counted in a baseline's time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from objectives import Task
from objectives._metrics import classification_metrics, confusion_matrix
from objectives.data._text import IGNORE_INDEX, SequenceSplit

# A small grid: the baseline is meant to cost seconds, as a user would first try it.
C_GRID = (0.3, 1.0, 3.0, 10.0)


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's scores and cost."""

    name: str
    validation: float
    test: dict[str, float]
    seconds: float
    fits: int  # models fitted (its "budget")


def _documents(split: SequenceSplit) -> list[str]:
    """Each example's token ids as words (``w17 w4 ...``), padding left out."""
    ids = split.inputs.cpu()
    return [
        " ".join(f"w{int(token)}" for token in ids[row, : int(length)])
        for row, length in enumerate(split.lengths.tolist())
    ]


def tfidf_logistic_regression(task: Task, metric: str) -> BaselineResult:
    """TF-IDF + logistic regression on ``task``'s splits, scored with the task's metrics."""
    started = time.monotonic()
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), token_pattern=r"\S+", sublinear_tf=True, min_df=1
    )
    train_x = vectorizer.fit_transform(_documents(task.train))
    validation_x = vectorizer.transform(_documents(task.validation))
    test_x = vectorizer.transform(_documents(task.test))
    train_y = task.train.labels.cpu().numpy()
    n_classes = len(task.label_names)

    def scores(model: Any, features: Any, split: SequenceSplit) -> dict[str, float]:
        predicted = torch.as_tensor(model.predict(features), dtype=torch.long)
        gold = split.labels.cpu()
        return classification_metrics(confusion_matrix(predicted, gold, n_classes))

    best: tuple[float, Any] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(train_x, train_y)
        value = scores(model, validation_x, task.validation)[metric]
        if best is None or value > best[0]:
            best = (value, model)
    assert best is not None
    return BaselineResult(
        "tfidf+logreg",
        best[0],
        scores(best[1], test_x, task.test),
        time.monotonic() - started,
        len(C_GRID),
    )


def _one_hot_logits(predicted: torch.Tensor, n_tags: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(predicted, n_tags).float()


def majority_tag(task: Task, metric: str) -> BaselineResult:
    """Each word's most frequent training tag, scored with the task's own metrics."""
    started = time.monotonic()
    n_tags = len(task.label_names)
    counts: dict[int, Counter[int]] = {}
    overall: Counter[int] = Counter()
    inputs, labels = task.train.inputs.cpu(), task.train.labels.cpu()
    mask = labels != IGNORE_INDEX
    for word, tag in zip(inputs[mask].tolist(), labels[mask].tolist(), strict=True):
        counts.setdefault(word, Counter())[tag] += 1
        overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    table = torch.full((int(inputs.max()) + 1,), fallback, dtype=torch.long)
    for word, tags in counts.items():
        table[word] = tags.most_common(1)[0][0]

    def score(split: SequenceSplit) -> dict[str, float]:
        words = split.inputs.cpu()
        known = words < len(table)
        predicted = torch.where(known, table[words.clamp(max=len(table) - 1)], fallback)
        accumulator = task.new_metrics(split.to("cpu"))
        batch = split.to("cpu").batch(torch.arange(len(split)))
        width = batch.labels.shape[1]
        accumulator.update(_one_hot_logits(predicted[:, :width], n_tags), batch)
        result = accumulator.compute()
        result.pop("per_type_f1", None)
        return {key: float(value) for key, value in result.items()}

    return BaselineResult(
        "majority-tag",
        score(task.validation)[metric],
        score(task.test),
        time.monotonic() - started,
        1,
    )


def fit_baseline(task: Task, metric: str, threads: int = 1) -> BaselineResult:
    """The baseline that fits ``task``: per-word tags for taggers, else TF-IDF + LR.

    BLAS runs on ``threads`` threads (the study's torch thread count): left to its default
    of one per core, the logistic regression took 20x longer on the loaded 2-core machine
    (26 s instead of 1.3 s on 400 TREC questions), the oversubscription the study avoids.
    """
    with threadpool_limits(threads):
        if task.train.labels.dim() == 2:
            return majority_tag(task, metric)
        return tfidf_logistic_regression(task, metric)


__all__ = ["BaselineResult", "fit_baseline", "majority_tag", "tfidf_logistic_regression"]
