"""Sampler start-up and pruner warm-up that follow the study's budget.

Optuna's defaults assume a large study: TPE samples its first 10 trials at random and the
median pruner waits for 5 finished trials, so a 10-trial study never leaves random search
and barely prunes. Here the settings a user did not give are derived from the study's
budget (``n_trials`` and ``epochs``); anything set in ``[sampler]`` / ``[pruner]`` wins.

The default pruner is successive halving from the first epoch, reduction factor 3: only the
best third of the trials reaching an epoch rung (1, 3, 9, ... epochs) trains on to the next.
In ``bench/pruning.py`` (README, "Small budgets") it ran about twice the trials of random
search in the same epochs and ended at least as high; the evidence is 1-2 seeds per data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

DEFAULT_PRUNER = "successive_halving"
"""The pruner of a single-objective study whose config names none."""

# TPE's own default; a study with no trial budget (``n_trials = None``) keeps it.
_TPE_STARTUP_CAP = 10
_SAMPLERS_WITH_STARTUP = ("tpe", "gp")


def startup_trials(n_trials: int | None) -> int:
    """Random trials before a model-based sampler takes over: a fifth of the budget, 2..10.

    A fifth leaves most of a small budget to the model (30 trials: 6 random, 24 by TPE)
    while 2 is the least TPE can split into "good" and "bad" trials.
    """
    if n_trials is None:
        return _TPE_STARTUP_CAP
    return max(2, min(_TPE_STARTUP_CAP, n_trials // 5))


def sampler_options(name: str, options: dict[str, Any], n_trials: int | None) -> dict[str, Any]:
    """``options`` of sampler ``name`` with a budget-sized ``n_startup_trials`` when unset."""
    if name in _SAMPLERS_WITH_STARTUP and "n_startup_trials" not in options:
        return {**options, "n_startup_trials": startup_trials(n_trials)}
    return dict(options)


def pruner_options(
    name: str, options: dict[str, Any], n_trials: int | None, epochs: int
) -> dict[str, Any]:
    """``options`` of pruner ``name`` with budget-sized warm-up settings where unset.

    - median / percentile: compare with others after as many finished trials as half the
      sampler's start-up (at least 1), and not before a tenth of the epochs (at least 1).
    - successive_halving: first rung after one epoch, a third kept per rung.
    - hyperband: brackets from one epoch up to the study's ``epochs``.
    """
    derived: dict[str, Any] = {}
    if name in ("median", "percentile"):
        derived = {
            "n_startup_trials": max(1, startup_trials(n_trials) // 2),
            "n_warmup_steps": max(1, epochs // 10),
        }
    elif name == "successive_halving":
        derived = {"min_resource": 1, "reduction_factor": 3}
    elif name == "hyperband":
        derived = {"min_resource": 1, "max_resource": epochs, "reduction_factor": 3}
    return {**derived, **options}


@dataclass(frozen=True)
class Phase:
    """Where a study's sampler stands: still sampling at random, or model-based."""

    finished: int
    startup: int | None  # None: the sampler has no random start-up (random, qmc, ...)

    @property
    def model_based(self) -> bool:
        """Whether the sampler now proposes from a model of the finished trials."""
        return self.startup is not None and self.finished >= self.startup

    def describe(self, sampler: str) -> str:
        """One line such as ``random start-up 4/6`` or ``model-based (tpe)``."""
        if self.startup is None:
            return f"{sampler} sampling (no start-up phase)"
        if self.model_based:
            return f"model-based ({sampler})"
        return f"random start-up {self.finished}/{self.startup}"


def study_phase(study: optuna.Study, sampler: dict[str, Any], n_trials: int | None) -> Phase:
    """The sampler phase of ``study`` given its stored ``[sampler]`` table and budget.

    TPE counts COMPLETE and PRUNED trials towards its start-up, as Optuna does.
    """
    name = str(sampler.get("name", "tpe"))
    if name not in _SAMPLERS_WITH_STARTUP:
        return Phase(finished=0, startup=None)
    options = sampler_options(name, {k: v for k, v in sampler.items() if k != "name"}, n_trials)
    finished = len(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    )
    return Phase(finished=finished, startup=int(options["n_startup_trials"]))
