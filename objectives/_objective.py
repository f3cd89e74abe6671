"""Training wrapped as an Optuna objective: suggest -> build -> train -> report -> prune.

One objective for every task (:mod:`objectives._tasks`): the task supplies data, model head
and metrics; the shape, the loop, schedules and cross-validation folds are the same.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from torch import nn

from objectives._data import ClassificationData, SequenceSplit
from objectives._graphs import CudaGraphSteps, GraphMode, check_graph_mode, graphs_unavailable
from objectives._models import SequenceClassifier, count_parameters
from objectives._schedules import LRSchedule, ScheduleConfig
from objectives._tasks import (
    CLASSIFICATION_PARAMETERS,
    PARAMETER_CHOICES,
    TASK_METRICS,
    ClassificationTask,
    Task,
    optimizer_config,
    schedule_config,
)
from objectives._training import (
    OptimizerConfig,
    TrainSteps,
    count_batches,
    evaluate,
    train_epoch,
)
from objectives.errors import ObjectiveError, TrialDiverged, TrialInterrupted

_log = logging.getLogger(__name__)

VALIDATION_METRICS = TASK_METRICS["classification"]
COST_METRICS = ("train_seconds", "n_parameters")
OBJECTIVE_VALUES = VALIDATION_METRICS + COST_METRICS
"""Values a classification study may optimize: validation metrics of the best epoch, and costs."""

ALL_VALIDATION_METRICS = tuple(dict.fromkeys(m for ms in TASK_METRICS.values() for m in ms))


def objective_values(task: str) -> tuple[str, ...]:
    """Values a study of ``task`` may optimize: its validation metrics, then costs."""
    return TASK_METRICS[task] + COST_METRICS


SuggestFn = Callable[[optuna.Trial], Mapping[str, Any]]
CheckpointFn = Callable[[optuna.Trial, dict[str, Any]], object]


@dataclass(frozen=True)
class ObjectiveSettings:
    """Study-wide settings of an objective (never searched).

    Attributes:
        objectives: Values returned to Optuna, one per study direction (a task's validation
            metrics or :data:`COST_METRICS`); the first is reported each epoch for pruning.
        max_epochs: Epoch budget of a trial (``epochs`` in the space may ask for fewer).
        seed: Seed of weights, dropout, batch order and folds: same params + seed, same result.
        device: Torch device to train on.
        folds: 1 trains on the training split and scores the validation split; ``k >= 2``
            runs k-fold cross-validation over both and reports the mean of the folds.
        cuda_graphs: ``auto`` replays training steps from CUDA graphs where the device and
            the trial allow it (:func:`objectives._graphs.graphs_unavailable`), ``on`` asks
            for them (an error off CUDA; a warning when a trial cannot use them), ``off``
            never uses them.
        stop_requested: Polled at each epoch boundary; true stops the trial there.
    """

    objectives: tuple[str, ...] = ("accuracy",)
    max_epochs: int = 10
    seed: int = 0
    device: str = "cpu"
    folds: int = 1
    cuda_graphs: GraphMode = "auto"
    stop_requested: Callable[[], bool] = field(default=lambda: False, compare=False)

    def __post_init__(self) -> None:
        accepted = ALL_VALIDATION_METRICS + COST_METRICS
        for name in self.objectives:
            if name not in accepted:
                raise ObjectiveError(
                    f"objective {name!r} is not accepted; accepted: {', '.join(accepted)}"
                )
        if self.objectives[0] not in ALL_VALIDATION_METRICS:
            raise ObjectiveError(
                f"the first objective must be a validation metric "
                f"({', '.join(ALL_VALIDATION_METRICS)}), but got {self.objectives[0]!r}"
            )
        if self.max_epochs < 1:
            raise ObjectiveError(f"epochs must be at least 1, but got {self.max_epochs}.")
        if self.folds < 1:
            raise ObjectiveError(f"folds must be at least 1, but got folds={self.folds}.")
        check_graph_mode(self.cuda_graphs)
        if self.cuda_graphs == "on" and torch.device(self.device).type != "cuda":
            raise ObjectiveError(
                f"cuda_graphs 'on' needs a CUDA device, but the device is {self.device!r}; "
                "use cuda_graphs 'auto' (graphs where available) or 'off'"
            )

    @property
    def metric(self) -> str:
        """The validation metric that picks the best epoch and drives pruning."""
        return self.objectives[0]


def resolve_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill classification defaults into ``params`` and reject names it does not read."""
    unknown = sorted(set(params) - set(CLASSIFICATION_PARAMETERS))
    if unknown:
        raise ObjectiveError(
            f"hyperparameter {unknown[0]!r} is not used by the classification objective; "
            f"accepted: {', '.join(CLASSIFICATION_PARAMETERS)}"
        )
    return {**CLASSIFICATION_PARAMETERS, **params}


def build_classifier(
    params: Mapping[str, Any], data: ClassificationData
) -> tuple[SequenceClassifier, OptimizerConfig]:
    """The classifier and optimizer settings that ``params`` describe, sized for ``data``."""
    task = ClassificationTask(data)
    p = task.resolve(params)
    model = task.build_model(p)
    assert isinstance(model, SequenceClassifier)
    return model, optimizer_config(p)


@dataclass
class _Run:
    """One model being trained: the only one, or one cross-validation fold."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
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


class TaskObjective:
    """Optuna objective training a task's model on preloaded tensors.

    Args:
        task: The task with its data, loaded once per worker process.
        suggest: Turns a trial into hyperparameters (the study's search space).
        settings: Metric(s), epoch budget, seed, device and folds.
        save_checkpoint: Called with the trial and a checkpoint dict (``kind``,
            ``state_dict``, model config, preprocessing) of the best epoch when a trial
            completes (with folds: the first fold's model).
    """

    def __init__(
        self,
        task: Task,
        suggest: SuggestFn,
        settings: ObjectiveSettings,
        save_checkpoint: CheckpointFn | None = None,
    ) -> None:
        accepted = task.metrics + COST_METRICS
        for name in settings.objectives:
            if name not in accepted:
                raise ObjectiveError(
                    f"metric {name!r} is not reported by task {task.name!r}; accepted: "
                    f"{', '.join(accepted)}"
                )
        self.task = task
        self.suggest = suggest
        self.settings = settings
        self.save_checkpoint = save_checkpoint
        device = torch.device(settings.device)
        # Tensors move to the device once per process; trials only take views of them.
        if settings.folds > 1:
            self._pairs = [
                (train.to(device), validation.to(device))
                for train, validation in task.folds(settings.folds, settings.seed)
            ]
        else:
            self._pairs = [(task.train.to(device), task.validation.to(device))]

    def _start(self, params: dict[str, Any], epochs: int) -> list[_Run]:
        runs = []
        for train, validation in self._pairs:
            model = self.task.build_model(params).to(self.settings.device)
            optimizer_settings = optimizer_config(params)
            schedule_settings = schedule_config(params)
            optimizer, steps, graphs_off = self._train_steps(
                model, optimizer_settings, schedule_settings
            )
            train_view = self.task.view(train, params)
            schedule = LRSchedule(
                optimizer,
                schedule_settings,
                epochs=epochs,
                steps_per_epoch=count_batches(len(train_view), optimizer_settings.batch_size),
                maximize=self.settings.metric != "loss",
            )
            validation_view = self.task.view(validation, params)
            runs.append(
                _Run(model, optimizer, schedule, train_view, validation_view, steps, graphs_off)
            )
        return runs

    def _train_steps(
        self, model: nn.Module, optimizer: OptimizerConfig, schedule: ScheduleConfig
    ) -> tuple[torch.optim.Optimizer, TrainSteps, str | None]:
        """The optimizer, the step strategy (CUDA graphs where allowed, else eager), and why
        graphs are not used (``None`` when they are)."""
        mode = self.settings.cuda_graphs
        reason = (
            "cuda_graphs is off"
            if mode == "off"
            else graphs_unavailable(model, optimizer, schedule, self.settings.device)
        )
        if reason is None:
            capturable = optimizer.build(model, capturable=True)
            return capturable, CudaGraphSteps(model, capturable, optimizer), None
        if mode == "on":
            _log.warning("cuda_graphs is on, but this trial trains without them: %s", reason)
        built = optimizer.build(model)
        return built, TrainSteps(model, built, optimizer), reason

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        settings = self.settings
        params = self.task.resolve(self.suggest(trial))
        epochs = int(params["epochs"] or settings.max_epochs)
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        optimizer_settings = optimizer_config(params)
        runs = self._start(params, epochs)
        trial.set_user_attr("n_parameters", count_parameters(runs[0].model))
        trial.set_user_attr("device", str(settings.device))
        trial.set_user_attr("seed", settings.seed)

        history: list[dict[str, float]] = []
        fold_values: list[list[float]] = [[] for _ in runs]
        best: dict[str, Any] | None = None
        best_state: dict[str, torch.Tensor] | None = None
        sign = -1.0 if settings.metric == "loss" else 1.0
        started = time.perf_counter()
        multi_objective = len(settings.objectives) > 1
        try:
            for epoch in range(epochs):
                if settings.stop_requested():
                    raise TrialInterrupted("interrupted")
                per_fold = []
                for fold, run in enumerate(runs):
                    train_loss = float(
                        train_epoch(
                            run.model,
                            run.train,
                            run.optimizer,
                            optimizer_settings,
                            generator,
                            run.schedule,
                            run.steps,
                        )
                    )
                    if not math.isfinite(train_loss):
                        raise TrialDiverged(f"training loss became {train_loss} at epoch {epoch}")
                    metrics = evaluate(
                        run.model, run.validation, metrics=self.task.new_metrics(run.validation)
                    )
                    metrics["train_loss"] = train_loss
                    run.schedule.after_epoch(metrics[settings.metric])
                    fold_values[fold].append(metrics[settings.metric])
                    per_fold.append(metrics)
                metrics = _mean_metrics(per_fold) if len(runs) > 1 else per_fold[0]
                scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
                history.append({"epoch": epoch, **scalars})
                value = metrics[settings.metric]
                if best is None or sign * value > sign * best[settings.metric]:
                    best = {**metrics, "epoch": epoch}
                    state = runs[0].model.state_dict()
                    best_state = copy.deepcopy({k: v.cpu() for k, v in state.items()})
                if not multi_objective:
                    # Optuna prunes single-objective studies only; with folds, on their mean.
                    trial.report(value, epoch)
                    if trial.should_prune():
                        trial.set_user_attr("pruned_at_epoch", epoch)
                        raise optuna.TrialPruned(f"pruned at epoch {epoch}")
        except (TrialDiverged, TrialInterrupted) as exc:
            trial.set_user_attr("fail_reason", str(exc))
            raise
        finally:
            seconds = time.perf_counter() - started
            trial.set_user_attr("val_history", history)
            trial.set_user_attr("epochs_run", len(history))
            trial.set_user_attr("train_seconds", round(seconds, 4))
            trial.set_user_attr("cuda_graphs", runs[0].graph_status())
            if len(runs) > 1:
                trial.set_user_attr("fold_values", fold_values)

        assert best is not None and best_state is not None  # epochs >= 1
        per_type = best.pop("per_type_f1", None)
        if per_type is not None:
            trial.set_user_attr("per_type_f1", per_type)
        trial.set_user_attr("best_epoch", int(best["epoch"]))
        trial.set_user_attr("best_metrics", {k: v for k, v in best.items() if k != "epoch"})
        if len(runs) > 1:
            trial.set_user_attr("fold_best", [values[int(best["epoch"])] for values in fold_values])
        if self.save_checkpoint is not None:
            self.save_checkpoint(
                trial,
                {
                    "kind": self.task.checkpoint_kind,
                    "task": self.task.name,
                    "model_config": runs[0].model.config.to_dict(),  # type: ignore[operator,union-attr]
                    "state_dict": best_state,
                    "params": {k: v for k, v in params.items() if v is not None},
                    "preprocessing": self.task.preprocessing(runs[0].model, params),
                    "metrics": best,
                },
            )
        costs = {"train_seconds": seconds, "n_parameters": float(count_parameters(runs[0].model))}
        values = tuple(best.get(name, costs.get(name, math.nan)) for name in settings.objectives)
        return values if multi_objective else values[0]


class ClassificationObjective(TaskObjective):
    """:class:`TaskObjective` of text (or feature-sequence) classification.

    Args:
        data: Loaded once per worker process and shared by every trial.
        suggest: Turns a trial into hyperparameters (the study's search space).
        settings: Metric(s), epoch budget, seed and device.
        save_checkpoint: See :class:`TaskObjective`.
    """

    def __init__(
        self,
        data: ClassificationData,
        suggest: SuggestFn,
        settings: ObjectiveSettings,
        save_checkpoint: CheckpointFn | None = None,
    ) -> None:
        super().__init__(ClassificationTask(data), suggest, settings, save_checkpoint)
        self.data = data


__all__ = [
    "CLASSIFICATION_PARAMETERS",
    "COST_METRICS",
    "OBJECTIVE_VALUES",
    "PARAMETER_CHOICES",
    "VALIDATION_METRICS",
    "ClassificationObjective",
    "ObjectiveSettings",
    "TaskObjective",
    "build_classifier",
    "objective_values",
    "resolve_parameters",
]
