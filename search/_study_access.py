"""Open an existing study by name, with an error that lists the ones that do exist."""

from __future__ import annotations

import optuna

import storage
from search.errors import StudyError


def load_existing_study(study_name: str, storage_url: str) -> optuna.Study:
    """Load a study that must already exist.

    Args:
        study_name: Name of the study.
        storage_url: Storage URL accepted by :func:`storage.open_storage`.

    Returns:
        The loaded study.

    Raises:
        StudyError: No study of that name is in the storage.
        storage.StorageError: The storage cannot be opened.
    """
    study_storage = storage.open_storage(storage_url)
    names = [summary.study_name for summary in study_storage.get_all_studies()]
    if study_name not in names:
        accepted = ", ".join(sorted(names)) if names else "none (the storage is empty)"
        raise StudyError(
            f"study {study_name!r} is not in storage {storage_url!r}; studies there: {accepted}"
        )
    return optuna.load_study(study_name=study_name, storage=study_storage)
