"""Errors raised by :mod:`storage`: each names what was wrong and how to fix it."""

from __future__ import annotations


class StorageError(Exception):
    """A storage URL, database or connection problem that the user can fix.

    The message is one line, names the bad value and says what would be accepted.
    """


def first_line(error: object, default: str | None = None) -> str:
    """The first line of an exception's message (or any object's text), for one-line errors.

    Args:
        error: An exception (or a message).
        default: Said when the message is empty; the exception's type name when ``None``.
    """
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return default if default is not None else type(error).__name__
