"""Learning-rate schedules as a searched choice, each with its own settings, and a warm-up.

Epoch-based schedules (cosine, step, multistep, reduce-on-plateau) step after each epoch;
one-cycle steps after each batch and brings its own warm-up (``pct_start``). A warm-up of
``warmup_epochs`` ramps the rate linearly up to ``lr`` before any other schedule starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch.optim import lr_scheduler

from objectives.errors import ObjectiveError

SchedulerName = Literal["none", "cosine", "step", "multistep", "onecycle", "plateau"]


def parse_milestones(milestones: str) -> list[int]:
    """``"15,25"`` to ``[15, 25]`` (epochs, increasing).

    Raises:
        ObjectiveError: Anything but increasing positive whole numbers.
    """
    try:
        values = [int(part) for part in str(milestones).split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values) or values != sorted(set(values)):
        raise ObjectiveError(
            f"milestones must be increasing epochs separated by commas, like '15,25', "
            f"but got {milestones!r}"
        )
    return values


@dataclass(frozen=True)
class ScheduleConfig:
    """The learning-rate schedule of one trial.

    Attributes:
        scheduler: ``none``, ``cosine``, ``step``, ``multistep``, ``onecycle`` or ``plateau``.
        step_size: Epochs between decays (``step``).
        gamma: Decay factor (``step``, ``multistep``, and ``plateau``'s reduction factor).
        milestones: Epochs at which to decay, ``"15,25"`` (``multistep``).
        pct_start: Share of the steps spent rising to ``lr`` (``onecycle``).
        patience: Epochs without improvement before reducing (``plateau``).
        warmup_epochs: Epochs of linear warm-up before the schedule (not with ``onecycle``).
    """

    scheduler: SchedulerName = "none"
    step_size: int = 5
    gamma: float = 0.5
    milestones: str = "10,20"
    pct_start: float = 0.3
    patience: int = 2
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        if self.scheduler not in get_args(SchedulerName):
            raise ObjectiveError(
                f"scheduler {self.scheduler!r} is not accepted; accepted: "
                f"{', '.join(get_args(SchedulerName))}"
            )
        if self.step_size < 1:
            raise ObjectiveError(f"step_size must be at least 1, but got {self.step_size}.")
        if not 0 < self.gamma <= 1:
            raise ObjectiveError(f"gamma must be in (0, 1], but got gamma={self.gamma}.")
        if not 0 < self.pct_start < 1:
            raise ObjectiveError(f"pct_start must be in (0, 1), but got {self.pct_start}.")
        if self.patience < 0 or self.warmup_epochs < 0:
            raise ObjectiveError(
                f"patience and warmup_epochs must be >= 0, but got {self.patience=}, "
                f"{self.warmup_epochs=}."
            )
        if self.scheduler == "multistep":
            parse_milestones(self.milestones)


class LRSchedule:
    """Steps the chosen schedule: :meth:`after_batch` each batch, :meth:`after_epoch` each epoch.

    Args:
        optimizer: The trial's optimizer (its ``lr`` is the peak rate).
        config: The schedule.
        epochs: Epochs the trial will run.
        steps_per_epoch: Optimizer steps in one epoch (for one-cycle).
        maximize: Whether the validation metric given to plateau improves upward.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        config: ScheduleConfig,
        *,
        epochs: int,
        steps_per_epoch: int,
        maximize: bool = True,
    ) -> None:
        self.config = config
        self.epoch = 0
        self.batch_scheduler: lr_scheduler.OneCycleLR | None = None
        self.plateau: lr_scheduler.ReduceLROnPlateau | None = None
        self.epoch_scheduler: lr_scheduler.LRScheduler | None = None
        warmup = 0 if config.scheduler == "onecycle" else config.warmup_epochs
        self.warmup = warmup
        if config.scheduler == "onecycle":
            self.batch_scheduler = lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[group["lr"] for group in optimizer.param_groups],
                total_steps=max(1, epochs * steps_per_epoch),
                pct_start=config.pct_start,
            )
            return
        main: lr_scheduler.LRScheduler | None = None
        after_warmup = max(1, epochs - warmup)
        if config.scheduler == "cosine":
            main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=after_warmup)
        elif config.scheduler == "step":
            main = lr_scheduler.StepLR(optimizer, config.step_size, gamma=config.gamma)
        elif config.scheduler == "multistep":
            # Milestones count epochs from the start of training, warm-up included.
            shifted = [max(1, m - warmup) for m in parse_milestones(config.milestones)]
            main = lr_scheduler.MultiStepLR(optimizer, sorted(set(shifted)), gamma=config.gamma)
        elif config.scheduler == "plateau":
            self.plateau = lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="max" if maximize else "min",
                factor=config.gamma,
                patience=config.patience,
            )
        if warmup == 0:
            self.epoch_scheduler = main
            return
        ramp = lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
        if main is None:
            self.epoch_scheduler = ramp
        else:
            self.epoch_scheduler = lr_scheduler.SequentialLR(
                optimizer, [ramp, main], milestones=[warmup]
            )

    def after_batch(self) -> None:
        """Advance a per-batch schedule (one-cycle); others do nothing here."""
        if self.batch_scheduler is not None:
            total = self.batch_scheduler.total_steps
            if self.batch_scheduler.last_epoch + 1 < total:
                self.batch_scheduler.step()

    def after_epoch(self, value: float) -> None:
        """Advance epoch schedules; ``value`` is the validation metric plateau watches."""
        self.epoch += 1
        if self.plateau is not None and self.epoch > self.warmup:
            self.plateau.step(value)
        if self.epoch_scheduler is not None:
            self.epoch_scheduler.step()
