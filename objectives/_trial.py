"""One trial's training, from built models to a result: the epoch loop, folds, best state.

:func:`train_trial` only trains and returns a :class:`TrialResult`; the objective that calls
it records the result on the Optuna trial and saves the checkpoint.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from objectives._graphs import CudaGraphSteps
from objectives._metrics import MetricAccumulator
from objectives._schedules import LRSchedule
from objectives._training import TrainSteps, evaluate, train_epoch
from objectives.data import SequenceSplit
from objectives.errors import INTERRUPTED_REASON, TrialDiverged, TrialInterrupted

ReportFn = Callable[[float, int], bool]
"""Called with the epoch's metric and the epoch; returns whether to stop (prune) there."""


@dataclass
class Run:
    """One model being trained: the only one, or one cross-validation fold."""

    model: nn.Module
    schedule: LRSchedule
    train: SequenceSplit
    validation: SequenceSplit
    steps: TrainSteps
    graphs_off: str | None = None

    def graph_status(self) -> str:
        """``on (N graphs)``, or ``off: <why>`` for the ``cuda_graphs`` user attribute."""
        if isinstance(self.steps, CudaGraphSteps):
            if self.steps.fallback is not None:
                return f"off: {self.steps.fallback}"
            return f"on ({self.steps.captured} graphs)"
        return f"off: {self.graphs_off}"


@dataclass
class TrialResult:
    """What one trial's training produced (recorded by the caller).

    Attributes:
        history: Per-epoch validation metrics (scalars), with ``epoch``.
        fold_values: Per fold, the metric of each epoch (one list without folds).
        best: Metrics of the best epoch, with ``epoch``; ``None`` if no epoch finished.
        best_state: The first model's ``state_dict`` at the best epoch, on the CPU.
        seconds: Training time.
        graph_status: The ``cuda_graphs`` user attribute.
        pruned_at: The epoch the trial was pruned at, if it was.
        stopped_early_at: The epoch early stopping ended training at (the trial is complete,
            with its best epoch), if it did.
        failure: Why training stopped early (diverged, interrupted), if it did.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    fold_values: list[list[float]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    seconds: float = 0.0
    graph_status: str = ""
    pruned_at: int | None = None
    stopped_early_at: int | None = None
    failure: TrialDiverged | TrialInterrupted | None = None

    @property
    def completed(self) -> bool:
        """Whether training ran to its end: no failure, not pruned, a best epoch kept."""
        return (
            self.failure is None
            and self.pruned_at is None
            and self.best is not None
            and self.best_state is not None
        )


def train_trial(
    runs: list[Run],
    *,
    epochs: int,
    metric: str,
    generator: torch.Generator,
    new_metrics: Callable[[SequenceSplit], MetricAccumulator],
    report: ReportFn,
    stop_requested: Callable[[], bool],
    on_epoch: Callable[[int, Mapping[str, float]], object] = lambda *_: None,
    patience: int = 0,
) -> TrialResult:
    """Train ``runs`` (one model, or one per fold) for up to ``epochs`` epochs.

    Each epoch trains every run, scores its validation split, averages the folds, keeps the
    best epoch's state, tells ``on_epoch`` (progress) and asks ``report`` whether to stop. A
    non-finite loss or a stop request ends training early with :attr:`TrialResult.failure`
    set. With ``patience`` (early stopping), training also ends once that many epochs in a
    row brought no better validation value; the trial is then complete, with its best epoch.
    """
    result = TrialResult(fold_values=[[] for _ in runs])
    sign = -1.0 if metric == "loss" else 1.0
    started = time.perf_counter()
    try:
        for epoch in range(epochs):
            if stop_requested():
                raise TrialInterrupted(INTERRUPTED_REASON)
            per_fold = [
                _train_and_score(run, epoch, generator, new_metrics, metric) for run in runs
            ]
            for values, metrics in zip(result.fold_values, per_fold, strict=True):
                values.append(metrics[metric])
            metrics = _mean_metrics(per_fold) if len(runs) > 1 else per_fold[0]
            scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
            result.history.append({"epoch": epoch, **scalars})
            on_epoch(epoch, scalars)
            value = metrics[metric]
            if result.best is None or sign * value > sign * result.best[metric]:
                result.best = {**metrics, "epoch": epoch}
                state = runs[0].model.state_dict()
                result.best_state = copy.deepcopy({k: v.cpu() for k, v in state.items()})
            if report(value, epoch):
                result.pruned_at = epoch
                break
            stale = epoch - int(result.best["epoch"])
            if patience and stale >= patience and epoch + 1 < epochs:
                result.stopped_early_at = epoch
                break
    except (TrialDiverged, TrialInterrupted) as exc:
        result.failure = exc
    result.seconds = time.perf_counter() - started
    result.graph_status = runs[0].graph_status()
    return result


def _train_and_score(
    run: Run,
    epoch: int,
    generator: torch.Generator,
    new_metrics: Callable[[SequenceSplit], MetricAccumulator],
    metric: str,
) -> dict[str, Any]:
    """One epoch of one run: train, check the loss, score validation, step the schedule.

    The epoch's learning rate (the first parameter group's, at the epoch's end: one-cycle
    moves it every batch) goes into the metrics as ``lr``, so a trial's history shows the
    schedule it really followed.
    """
    train_loss = float(train_epoch(run.steps, run.train, generator, run.schedule))
    if not math.isfinite(train_loss):
        raise TrialDiverged(f"training loss became {train_loss} at epoch {epoch}")
    metrics = evaluate(run.model, run.validation, metrics=new_metrics(run.validation))
    metrics["train_loss"] = train_loss
    metrics["lr"] = float(run.steps.optimizer.param_groups[0]["lr"])
    run.schedule.after_epoch(metrics[metric])
    return metrics


def _mean_metrics(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every scalar metric over folds; per-type F1 averaged per type."""
    mean: dict[str, Any] = {}
    for key, value in per_fold[0].items():
        if isinstance(value, dict):
            types = sorted({t for m in per_fold for t in m[key]})
            mean[key] = {
                t: sum(m[key].get(t, 0.0) for m in per_fold) / len(per_fold) for t in types
            }
        else:
            mean[key] = sum(float(m[key]) for m in per_fold) / len(per_fold)
    return mean
