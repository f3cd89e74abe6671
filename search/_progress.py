"""Progress of a run: the study's budget, and the epoch and metric of the running trial.

On a terminal it is one tqdm bar over trials (with its ETA) whose postfix follows the running
trial epoch by epoch; log lines are printed above the bar instead of through it. Anywhere
else (CI, ``docker logs``, a file) it is plain lines, one per epoch and one per trial, since
bar redraws there are noise.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from typing import IO, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search._worker import INTERRUPTED_REASON, count_states


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class StudyProgress:
    """Shows a run's progress; pass :meth:`epoch` as the objective's ``on_epoch`` and the
    instance itself as an Optuna callback.

    Args:
        study: The study being run (its finished trials count towards ``budget``).
        budget: COMPLETE + PRUNED trials the study runs to (``None``: no budget).
        metric: The validation metric shown for the running trial.
        enabled: ``False`` shows nothing.
        stream: Where to write (standard error by default); a terminal gets the bar.
    """

    def __init__(
        self,
        study: optuna.Study,
        budget: int | None,
        metric: str,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
    ) -> None:
        self.enabled = enabled
        self.budget = budget
        self.metric = metric
        self.stream = stream if stream is not None else sys.stderr
        counts = count_states(study) if enabled else {"COMPLETE": 0, "PRUNED": 0}
        self.finished = counts["COMPLETE"] + counts["PRUNED"]
        self.finished_here = 0
        self.best: float | None = None
        self.started = time.monotonic()
        self.bar: Any = None
        isatty = getattr(self.stream, "isatty", None)
        if enabled and isatty is not None and isatty():
            from tqdm import tqdm

            try:
                width = os.get_terminal_size(self.stream.fileno()).columns
            except (AttributeError, OSError, ValueError):
                width = 0
            # A terminal that reports no size (some ptys) would get a bar 0 columns wide.
            self.bar = tqdm(
                total=budget,
                initial=self.finished,
                unit="trial",
                file=self.stream,
                dynamic_ncols=width > 0,
                ncols=None if width > 0 else 100,
            )

    def _best_text(self) -> str:
        return "" if self.best is None else f", best {self.best:.4g}"

    def epoch(
        self, trial_number: int, epoch: int, epochs: int, metrics: Mapping[str, float]
    ) -> None:
        """After each epoch of the running trial: its epoch k/N and latest metric."""
        if not self.enabled:
            return
        value = metrics.get(self.metric)
        shown = f" {self.metric} {value:.4f}" if value is not None else ""
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"trial {trial_number} epoch {epoch}/{epochs}{shown}{self._best_text()}"
            )
        else:
            self._line(f"trial {trial_number} epoch {epoch}/{epochs}:{shown}")

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """After each trial of this run (an Optuna callback)."""
        if not self.enabled:
            return
        if trial.user_attrs.get("fail_reason") == INTERRUPTED_REASON:
            return  # the stop was said once, by whoever asked for it; the trial is re-queued
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.finished += 1
            self.finished_here += 1
        # No completed trial yet, or a multi-objective study: no single best value to show.
        with contextlib.suppress(ValueError, RuntimeError):
            self.best = study.best_value
        if self.bar is not None:
            self.bar.update(self.finished - self.bar.n)
            self.bar.set_postfix_str(
                f"trial {trial.number} {trial.state.name.lower()}{self._best_text()}"
            )
            return
        budget = f"/{self.budget}" if self.budget else ""
        self._line(
            f"trial {trial.number} {trial.state.name.lower()}: {self.finished}{budget} trials "
            f"finished{self._best_text()}{self._eta()}"
        )

    def _eta(self) -> str:
        if not self.budget or not self.finished_here:
            return ""
        per_trial = (time.monotonic() - self.started) / self.finished_here
        left = max(0, self.budget - self.finished)
        return f", ETA {_duration(per_trial * left)}" if left and math.isfinite(per_trial) else ""

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def showing(self) -> Iterator[StudyProgress]:
        """Keep log lines from breaking the bar while it is shown; close it afterwards."""
        try:
            if self.bar is None:
                yield self
                return
            from tqdm.contrib.logging import logging_redirect_tqdm

            # Optuna's own handler does not propagate to the root logger: redirect both.
            with logging_redirect_tqdm(loggers=[logging.root, logging.getLogger("optuna")]):
                yield self
        finally:
            if self.bar is not None:
                self.bar.close()
