"""The trials ``--enqueue-baseline`` queues: what people already knew before the search.

Their user attributes mark them for the study (queued first), the objective (never pruned)
and the reports and evaluation (the baseline marked beside the search's best).
"""

from __future__ import annotations

from collections.abc import Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

BASELINE_ATTR = "baseline"
"""User attribute of the queued hand-tuned baseline: ``True``."""

KNOWN_GOOD_ATTR = "known_good"
"""User attribute of a queued known-good configuration: its index in the config's list."""

REFERENCE_ATTRS = (BASELINE_ATTR, KNOWN_GOOD_ATTR)


def is_reference_trial(trial: optuna.trial.BaseTrial) -> bool:
    """Whether ``trial`` is a queued baseline or known-good configuration: it trains all its
    epochs, unpruned, so the search is compared with what it really reaches."""
    return any(name in trial.user_attrs for name in REFERENCE_ATTRS)


def baseline_of(trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The study's baseline trial: the first completed one marked :data:`BASELINE_ATTR`,
    else the first finished one (it failed: an interrupted baseline whose re-queued copy
    has not run yet), else ``None``."""
    finished = [
        t for t in trials if t.user_attrs.get(BASELINE_ATTR) is True and t.state.is_finished()
    ]
    completed = [t for t in finished if t.state == TrialState.COMPLETE]
    chosen = completed or finished
    return chosen[0] if chosen else None
