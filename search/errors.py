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


USER_ERRORS: tuple[type[Exception], ...] = (HpsearchError, ObjectiveError, StorageError)

__all__ = ["USER_ERRORS", "ConfigError", "HpsearchError", "StudyError"]
