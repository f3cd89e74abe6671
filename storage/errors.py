"""Errors raised by :mod:`storage`: each names what was wrong and how to fix it."""

from __future__ import annotations


class StorageError(Exception):
    """A storage URL, database or connection problem that the user can fix.

    The message is one line, names the bad value and says what would be accepted.
    """
