"""The one root of every error a user can fix, and the errors :mod:`search` raises itself.

``objectives`` and ``storage`` cannot import from ``search`` (imports point
``search -> objectives, storage``), so they define their own base classes;
:data:`USER_ERRORS` gathers all three so the CLI has one thing to catch.
"""

from __future__ import annotations

from objectives.errors import ObjectiveError
from storage.errors import StorageError


class HpsearchError(Exception):
    """Root of the errors raised by :mod:`search`; printed as one line, exit code 2."""


class ConfigError(HpsearchError):
    """A study configuration value is not accepted."""


class StudyError(HpsearchError):
    """A study is missing, or exists with settings that do not match."""


class SlurmError(HpsearchError):
    """Slurm is missing, or refused a request (its own message, in one line)."""


USER_ERRORS: tuple[type[Exception], ...] = (HpsearchError, ObjectiveError, StorageError)

EXIT_USAGE = 2
"""Exit code of a user error (bad option, value, config or storage); never worth a restart."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C outside a study (128 + SIGINT, as shells report it)."""

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "USER_ERRORS",
    "ConfigError",
    "HpsearchError",
    "SlurmError",
    "StudyError",
]
