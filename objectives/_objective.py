"""Training wrapped as an Optuna objective: suggest -> build -> train -> report -> prune.

One objective for every task (:mod:`objectives.tasks._base`): the task supplies data, model head
and metrics; the shape, the loop, schedules and cross-validation folds are the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from torch import nn

from objectives._graphs import CudaGraphSteps, GraphMode, check_graph_mode, graphs_unavailable
from objectives._models import SequenceClassifier, count_parameters
from objectives._schedules import LRSchedule, ScheduleConfig
from objectives._training import OptimizerConfig, TrainSteps, count_batches
from objectives._trial import ReportFn, Run, TrialResult, train_trial
from objectives.data import ClassificationData
from objectives.errors import SEED_ATTR, ObjectiveError
from objectives.tasks import (
    ClassificationTask,
    Task,
    optimizer_config,
    schedule_config,
    task_reference,
)
from storage import set_trial_user_attrs

_log = logging.getLogger(__name__)

COST_METRICS = ("train_seconds", "n_parameters")
"""Costs a study may optimize beside a task's validation metrics (both minimized)."""


def objective_values(task: type[Task]) -> tuple[str, ...]:
    """Values a study of ``task`` may optimize: its validation metrics, then costs."""
    return task.metrics + COST_METRICS


SuggestFn = Callable[[optuna.Trial], Mapping[str, Any]]
CheckpointFn = Callable[[optuna.Trial, dict[str, Any]], Mapping[str, Any] | None]
"""Saves a completed trial's checkpoint; returns the user attributes that say where it is
(written with the trial's others, in one write), or ``None``."""


EpochCallback = Callable[[int, int, int, Mapping[str, float]], object]


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
        on_epoch: Called after each epoch with the trial number, the epoch (1-based), the
            trial's epoch count and that epoch's validation metrics (progress display).
        early_stopping: End a trial, complete, once this many epochs in a row brought no
            better validation value than its best (0: off); its value and model are its
            best epoch's, as when it runs to the end.
        runs_to_end: Trials that are never pruned (their epochs are still reported): the
            queued reference points a search is compared with, such as a hand-tuned
            baseline, whose early epochs may trail a less regularized configuration's.
    """

    objectives: tuple[str, ...] = ("accuracy",)
    max_epochs: int = 10
    seed: int = 0
    device: str = "cpu"
    folds: int = 1
    cuda_graphs: GraphMode = "auto"
    early_stopping: int = 0
    stop_requested: Callable[[], bool] = field(default=lambda: False, compare=False)
    on_epoch: EpochCallback = field(default=lambda *_: None, compare=False)
    runs_to_end: Callable[[optuna.trial.BaseTrial], bool] = field(
        default=lambda _trial: False, compare=False
    )

    def __post_init__(self) -> None:
        # Which metrics exist is the task's to say (TaskObjective checks them against it).
        if self.objectives[0] in COST_METRICS:
            raise ObjectiveError(
                f"the first objective must be a validation metric, but got {self.objectives[0]!r}"
            )
        if self.max_epochs < 1:
            raise ObjectiveError(f"epochs must be at least 1, but got {self.max_epochs}.")
        if self.folds < 1:
            raise ObjectiveError(f"folds must be at least 1, but got folds={self.folds}.")
        if self.early_stopping < 0:
            raise ObjectiveError(
                f"early_stopping must be 0 (off) or more epochs, but got {self.early_stopping}."
            )
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


def build_classifier(
    params: Mapping[str, Any], data: ClassificationData
) -> tuple[SequenceClassifier, OptimizerConfig]:
    """The classifier and optimizer settings that ``params`` describe, sized for ``data``."""
    task = ClassificationTask(data)
    p = task.resolve(params)
    model = task.build_model(p)
    assert isinstance(model, SequenceClassifier)
    return model, optimizer_config(p)


def training_seed(trial: optuna.Trial, study_seed: int) -> int:
    """The seed a trial trains with: its own :data:`SEED_ATTR` if it was queued with one
    (a seed repeat), else the study's (folds and data splits always use the study's)."""
    value = trial.user_attrs.get(SEED_ATTR)
    return study_seed if value is None else int(value)


class TaskObjective:
    """Optuna objective training a task's model on preloaded tensors.

    Args:
        task: The task with its data, loaded once per worker process.
        suggest: Turns a trial into hyperparameters (the study's search space).
        settings: Metric(s), epoch budget, seed, device and folds.
        save_checkpoint: Called with the trial and a checkpoint dict (``kind``,
            ``state_dict``, model config, preprocessing) of the best epoch when a trial
            completes (with folds: the first fold's model); the user attributes it returns
            are stored with the trial's others.
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

    def _start(self, params: dict[str, Any], epochs: int) -> list[Run]:
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
            runs.append(Run(model, schedule, train_view, validation_view, steps, graphs_off))
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
        seed = training_seed(trial, settings.seed)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        runs = self._start(params, epochs)
        result = train_trial(
            runs,
            epochs=epochs,
            metric=settings.metric,
            generator=generator,
            new_metrics=self.task.new_metrics,
            report=self._reporter(trial),
            stop_requested=settings.stop_requested,
            on_epoch=lambda epoch, scalars: settings.on_epoch(
                trial.number, epoch + 1, epochs, scalars
            ),
            patience=settings.early_stopping,
        )
        n_parameters = count_parameters(runs[0].model)
        # Every attribute of the trial at its end, where its checkpoint is too, in one storage
        # write (one per key costs a commit each on a database).
        attrs = {**self.task.trial_attrs(params), **self._user_attrs(result, n_parameters, seed)}
        try:
            if self.save_checkpoint is not None and result.completed:
                checkpoint = self._checkpoint(runs[0].model, params, result)
                attrs.update(self.save_checkpoint(trial, checkpoint) or {})
        finally:
            set_trial_user_attrs(trial, attrs)
        if result.failure is not None:
            raise result.failure
        if result.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at epoch {result.pruned_at}")
        assert result.best is not None  # epochs >= 1
        costs = {"train_seconds": result.seconds, "n_parameters": float(n_parameters)}
        values = tuple(
            result.best.get(name, costs.get(name, math.nan)) for name in settings.objectives
        )
        return values if len(values) > 1 else values[0]

    def _reporter(self, trial: optuna.Trial) -> ReportFn:
        """Reports each epoch's metric and says whether to prune there.

        Optuna prunes single-objective studies only; with folds, on their mean.
        """

        def report(value: float, epoch: int) -> bool:
            if len(self.settings.objectives) > 1:
                return False
            trial.report(value, epoch)
            return not self.settings.runs_to_end(trial) and trial.should_prune()

        return report

    def _user_attrs(self, result: TrialResult, n_parameters: int, seed: int) -> dict[str, Any]:
        """What a trial records about itself, finished or not."""
        attrs: dict[str, Any] = {
            "n_parameters": n_parameters,
            "device": str(self.settings.device),
            SEED_ATTR: seed,
            "val_history": result.history,
            "epochs_run": len(result.history),
            "train_seconds": round(result.seconds, 4),
            "cuda_graphs": result.graph_status,
        }
        folds = len(result.fold_values) > 1
        if folds:
            attrs["fold_values"] = result.fold_values
        if result.failure is not None:
            attrs["fail_reason"] = str(result.failure)
            return attrs
        if result.pruned_at is not None:
            attrs["pruned_at_epoch"] = result.pruned_at
            return attrs
        assert result.best is not None
        if result.stopped_early_at is not None:
            attrs["stopped_early_at_epoch"] = result.stopped_early_at
        best = dict(result.best)
        per_type = best.pop("per_type_f1", None)
        if per_type is not None:
            attrs["per_type_f1"] = per_type
        attrs["best_epoch"] = int(best["epoch"])
        attrs["best_metrics"] = {k: v for k, v in best.items() if k != "epoch"}
        if folds:
            attrs["fold_best"] = [values[int(best["epoch"])] for values in result.fold_values]
        return attrs

    def _checkpoint(
        self, model: nn.Module, params: dict[str, Any], result: TrialResult
    ) -> dict[str, Any]:
        """The best epoch's model as plain data: ``state_dict``, config, preprocessing."""
        best = {k: v for k, v in (result.best or {}).items() if k != "per_type_f1"}
        return {
            "kind": self.task.checkpoint_kind,
            "task": self.task.name,
            "task_class": task_reference(self.task),
            "model_config": self.task.model_config(model),
            "state_dict": result.best_state,
            "params": {k: v for k, v in params.items() if v is not None},
            "preprocessing": self.task.preprocessing(model, params),
            "metrics": best,
        }


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
    "COST_METRICS",
    "ClassificationObjective",
    "ObjectiveSettings",
    "TaskObjective",
    "build_classifier",
    "objective_values",
]
