"""What a run of a study did and where the study stands (``run_study``'s return value)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna

from search._worker import WorkerResult, count_states


@dataclass
class RunSummary:
    """What a run did and where the study stands."""

    study_name: str
    counts: dict[str, int]
    best_value: float | list[float] | None
    best_params: dict[str, Any] | None
    worker: WorkerResult
    budget: int | None
    best_trials: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        c = self.counts
        finished = c["COMPLETE"] + c["PRUNED"]
        budget = f" of {self.budget}" if self.budget else ""
        out = [
            f"study {self.study_name!r}: {finished}{budget} trials finished "
            f"({c['COMPLETE']} complete, {c['PRUNED']} pruned), {c['FAIL']} failed; "
            f"this run: {self.worker.trials_run} trials in {self.worker.seconds:.1f} s, "
            f"stopped by {self.worker.stopped_by}",
        ]
        if self.worker.duplicates_avoided or self.worker.given_back:
            out.append(
                f"not trained: {self.worker.duplicates_avoided} duplicate configurations "
                f"(resampled), {self.worker.given_back} trials beyond the budget"
            )
        if self.best_value is None:
            out.append("no completed trial yet")
        elif isinstance(self.best_value, list):
            out.append(f"Pareto front: trials {self.best_trials}")
        else:
            out.append(f"best value: {self.best_value:.6g}")
            out.append(f"best params: {readable_params(self.best_params or {})}")
            out.append("(exact values and the trial's details: hpsearch best)")
        return out


def readable_params(params: dict[str, Any]) -> str:
    """``name=value`` pairs, floats to 4 significant digits (``lr=0.008123``)."""
    return ", ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def summarize(study: optuna.Study, result: WorkerResult, budget: int | None) -> RunSummary:
    """Counts by state and the best trial(s) of ``study``."""
    counts = count_states(study)
    best_value: float | list[float] | None = None
    best_params = None
    best_numbers: list[int] = []
    if counts["COMPLETE"]:
        if len(study.directions) > 1:
            best_numbers = [t.number for t in study.best_trials]
            best_value = [list(t.values) for t in study.best_trials][0]
        else:
            best_value = study.best_value
            best_params = study.best_params
    return RunSummary(
        study.study_name, counts, best_value, best_params, result, budget, best_numbers
    )
