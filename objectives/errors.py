"""Errors raised by :mod:`objectives`."""

from __future__ import annotations

INTERRUPTED_REASON = "interrupted"
"""``fail_reason`` of a trial stopped by a stop request; the worker re-queues its parameters."""


SEED_ATTR = "seed"
"""User attribute of a trial with the training seed it uses (weights, dropout, batch order).

A trial queued with it (a seed repeat of ``hpsearch best --confirm``) trains with that seed;
any other trial trains with the study's seed, so the same params give the same result.
"""


class ObjectiveError(Exception):
    """A dataset or model setting that the user can fix (one line, names the bad value)."""


class TrialDiverged(RuntimeError):
    """Training produced a non-finite loss; the trial is failed and the study goes on."""


class TrialInterrupted(RuntimeError):
    """The worker was asked to stop; raised at an epoch boundary so the trial can be re-queued."""


def missing_file(path: object, what: str = "data file") -> ObjectiveError:
    """The error for a path that is not a readable file: missing, or a folder given."""
    from pathlib import Path

    path = Path(str(path))
    if path.is_dir():
        return ObjectiveError(
            f"{what} {str(path)!r} is a folder, not a file; give the file inside it "
            "(for example a .csv, .tsv, .label, .conllu or .iob file)"
        )
    return ObjectiveError(f"{what} {str(path)!r} does not exist")


def empty_validation(source: object, unit: str) -> ObjectiveError:
    """The error for a validation file (``--validation-data``) with no ``unit`` in it."""
    return ObjectiveError(
        f"validation data {str(source)!r} has no {unit}; the trials are scored on it, so it "
        "needs at least one"
    )


def damaged_gzip_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged or non-gzip ``.gz`` file raises (catch it, then
    :func:`damaged_gzip`)."""
    import gzip
    import zlib

    return (gzip.BadGzipFile, EOFError, zlib.error)


def damaged_gzip(path: object, error: BaseException) -> ObjectiveError:
    """The error for a ``.gz`` file that cannot be decompressed."""
    return ObjectiveError(
        f"{path}: damaged gzip file ({error}); check the download, or give the file "
        "uncompressed without its .gz suffix"
    )
