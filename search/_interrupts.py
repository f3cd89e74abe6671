"""A stopped trial is news for one log line, not for a traceback."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from objectives import TrialInterrupted

# Optuna logs every failed trial with its traceback, from this logger.
_OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"


class _DropInterrupted(logging.Filter):
    """Drops Optuna's "Trial N failed ... TrialInterrupted / KeyboardInterrupt" records.

    The stop itself was said once already (by the signal handler) and the trial is queued
    again, so its traceback tells the user nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._dropped: str | None = None  # "Trial N" whose traceback was dropped

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and isinstance(
            record.exc_info[1], (TrialInterrupted, KeyboardInterrupt)
        ):
            self._dropped = " ".join(message.split()[:2])
            return False
        # Its follow-up line, "Trial N failed with value None.", goes with it.
        return not (self._dropped and message.startswith(f"{self._dropped} failed with value"))


@contextlib.contextmanager
def quiet_interruptions() -> Iterator[None]:
    """While running trials, log an interrupted trial without Optuna's traceback."""
    logger = logging.getLogger(_OPTUNA_TRIAL_LOGGER)
    drop = _DropInterrupted()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
