"""Training wrapped as an Optuna objective: suggest -> build -> train -> report -> prune."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

import optuna
import torch

from objectives._data import ClassificationData
from objectives._models import (
    Aggregation,
    Cell,
    ClassifierConfig,
    EncoderConfig,
    SequenceClassifier,
    count_parameters,
)
from objectives._training import OptimizerConfig, OptimizerName, evaluate, train_epoch
from objectives.errors import ObjectiveError, TrialDiverged, TrialInterrupted

CLASSIFICATION_PARAMETERS: dict[str, Any] = {
    "cell": "gru",
    "hidden_size": 64,
    "num_layers": 1,
    "bidirectional": False,
    "dropout": 0.0,
    "embedding_dim": 64,
    "aggregation": "last",
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 0.0,
    "epochs": None,
    "min_freq": 1,
    "max_length": None,
}
"""Every hyperparameter the classification objective reads, with the value used when a
search space leaves it out (``epochs=None`` means the study's epoch budget)."""

PARAMETER_CHOICES: dict[str, tuple[Any, ...]] = {
    "cell": get_args(Cell),
    "aggregation": get_args(Aggregation),
    "optimizer": get_args(OptimizerName),
    "bidirectional": (False, True),
}
"""Accepted values of the categorical hyperparameters, checked when a space is built."""

VALIDATION_METRICS = ("accuracy", "macro_f1", "loss")
COST_METRICS = ("train_seconds", "n_parameters")
OBJECTIVE_VALUES = VALIDATION_METRICS + COST_METRICS
"""Values a study may optimize: validation metrics of the best epoch, and costs."""

SuggestFn = Callable[[optuna.Trial], Mapping[str, Any]]
CheckpointFn = Callable[[optuna.Trial, dict[str, Any]], object]


@dataclass(frozen=True)
class ObjectiveSettings:
    """Study-wide settings of an objective (never searched).

    Attributes:
        objectives: Values returned to Optuna, one per study direction (see
            :data:`OBJECTIVE_VALUES`); the first one is reported each epoch for pruning.
        max_epochs: Epoch budget of a trial (``epochs`` in the space may ask for fewer).
        seed: Seed of weights, dropout and batch order: same params + seed, same result.
        device: Torch device to train on.
    """

    objectives: tuple[str, ...] = ("accuracy",)
    max_epochs: int = 10
    seed: int = 0
    device: str = "cpu"
    stop_requested: Callable[[], bool] = field(default=lambda: False, compare=False)

    def __post_init__(self) -> None:
        for name in self.objectives:
            if name not in OBJECTIVE_VALUES:
                raise ObjectiveError(
                    f"objective {name!r} is not accepted; accepted: {', '.join(OBJECTIVE_VALUES)}"
                )
        if self.objectives[0] not in VALIDATION_METRICS:
            raise ObjectiveError(
                f"the first objective must be a validation metric "
                f"({', '.join(VALIDATION_METRICS)}), but got {self.objectives[0]!r}"
            )
        if self.max_epochs < 1:
            raise ObjectiveError(f"epochs must be at least 1, but got {self.max_epochs}.")

    @property
    def metric(self) -> str:
        """The validation metric that picks the best epoch and drives pruning."""
        return self.objectives[0]


def resolve_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults into a trial's parameters and reject names the objective does not read."""
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
    """The model and optimizer settings that ``params`` describe, sized for ``data``."""
    p = resolve_parameters(params)
    encoder = EncoderConfig(
        cell=p["cell"],
        hidden_size=int(p["hidden_size"]),
        num_layers=int(p["num_layers"]),
        bidirectional=bool(p["bidirectional"]),
        dropout=float(p["dropout"]),
        embedding_dim=int(p["embedding_dim"]),
        vocabulary_size=data.vocabulary_size(int(p["min_freq"])) if data.is_text else 0,
        n_features=data.n_features or 0,
    )
    config = ClassifierConfig(
        encoder=encoder, n_classes=len(data.label_names), aggregation=p["aggregation"]
    )
    optimizer = OptimizerConfig(
        optimizer=p["optimizer"],
        lr=float(p["lr"]),
        weight_decay=float(p["weight_decay"]),
        batch_size=int(p["batch_size"]),
        grad_clip=float(p["grad_clip"]),
    )
    return SequenceClassifier(config), optimizer


class ClassificationObjective:
    """Optuna objective training a recurrent sequence classifier on preloaded tensors.

    Args:
        data: Loaded once per worker process and shared by every trial.
        suggest: Turns a trial into hyperparameters (the study's search space).
        settings: Metric(s), epoch budget, seed and device.
        save_checkpoint: Called with the trial and a checkpoint dict (``state_dict`` +
            config + preprocessing) of the best epoch when a trial completes.
    """

    def __init__(
        self,
        data: ClassificationData,
        suggest: SuggestFn,
        settings: ObjectiveSettings,
        save_checkpoint: CheckpointFn | None = None,
    ) -> None:
        self.data = data
        self.suggest = suggest
        self.settings = settings
        self.save_checkpoint = save_checkpoint
        device = torch.device(settings.device)
        self._train = data.train.to(device)
        self._validation = data.validation.to(device)

    def _preprocessing(self, config: ClassifierConfig, view: dict[str, int]) -> dict[str, Any]:
        info = {**self.data.preprocessing(), **view}
        if info["vocabulary"] is not None:
            # Only the ids this model has embeddings for; rarer tokens read as unknown.
            info["vocabulary"] = info["vocabulary"][: config.encoder.vocabulary_size]
        return info

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        settings = self.settings
        params = resolve_parameters(self.suggest(trial))
        epochs = int(params["epochs"] or settings.max_epochs)
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        model, optimizer_config = build_classifier(params, self.data)
        model.to(settings.device)
        optimizer = optimizer_config.build(model)
        view = {
            "min_freq": int(params["min_freq"]),
            "max_length": int(params["max_length"] or self.data.max_length),
        }
        train = self.data.view(self._train, **view)
        validation = self.data.view(self._validation, **view)
        n_classes = len(self.data.label_names)
        trial.set_user_attr("n_parameters", count_parameters(model))
        trial.set_user_attr("device", str(settings.device))
        trial.set_user_attr("seed", settings.seed)

        history: list[dict[str, float]] = []
        best: dict[str, float] | None = None
        best_state: dict[str, torch.Tensor] | None = None
        sign = -1.0 if settings.metric == "loss" else 1.0
        started = time.perf_counter()
        multi_objective = len(settings.objectives) > 1
        try:
            for epoch in range(epochs):
                if settings.stop_requested():
                    raise TrialInterrupted("interrupted")
                train_loss = float(
                    train_epoch(model, train, optimizer, optimizer_config, generator)
                )
                if not math.isfinite(train_loss):
                    raise TrialDiverged(f"training loss became {train_loss} at epoch {epoch}")
                metrics = evaluate(model, validation, n_classes)
                history.append({"epoch": epoch, "train_loss": train_loss, **metrics})
                value = metrics[settings.metric]
                if best is None or sign * value > sign * best[settings.metric]:
                    best = {**metrics, "epoch": epoch}
                    best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
                if not multi_objective:
                    # Optuna prunes single-objective studies only.
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

        assert best is not None and best_state is not None  # epochs >= 1
        trial.set_user_attr("best_epoch", int(best["epoch"]))
        trial.set_user_attr("best_metrics", {k: v for k, v in best.items() if k != "epoch"})
        if self.save_checkpoint is not None:
            self.save_checkpoint(
                trial,
                {
                    "kind": "sequence_classifier",
                    "model_config": model.config.to_dict(),
                    "state_dict": best_state,
                    "params": {k: v for k, v in params.items() if v is not None},
                    "preprocessing": self._preprocessing(model.config, view),
                    "metrics": best,
                },
            )
        costs = {"train_seconds": seconds, "n_parameters": float(count_parameters(model))}
        values = tuple(best.get(name, costs.get(name, math.nan)) for name in settings.objectives)
        return values if multi_objective else values[0]
