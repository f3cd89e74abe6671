"""Errors raised by :mod:`objectives`."""

from __future__ import annotations


class ObjectiveError(Exception):
    """A dataset or model setting that the user can fix (one line, names the bad value)."""


class TrialDiverged(RuntimeError):
    """Training produced a non-finite loss; the trial is failed and the study goes on."""


class TrialInterrupted(RuntimeError):
    """The worker was asked to stop; raised at an epoch boundary so the trial can be re-queued."""
