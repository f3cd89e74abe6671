"""A new study's space fitted to its data once, stored, and described for ``status``.

The task decides what its data supports (:meth:`objectives.tasks.Task.derive_space`); this
module applies that to a config when a study is first created with its data loaded, so
the stored config holds the fitted space and every worker that joins searches the same
one. Dimensions the user or the preset set stay as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import optuna

import storage
from objectives import ObjectiveError, Task
from search._config import StudyConfig
from search._resume import CONFIG_ATTR
from search.errors import ConfigError

DERIVED_ATTR = "derived_space"
"""Study user attribute: ``{parameter: {"space": spec, ...statistics}}`` of fitted dims."""


def reference_values(config: StudyConfig) -> dict[str, list[Any]]:
    """Per parameter, the values of the ``[baseline]`` and of every ``[[known_good]]`` entry:
    the space fitted to the data keeps them possible, so the queued reference trials run."""
    values: dict[str, list[Any]] = {}
    for entry in (config.baseline, *config.known_good):
        for name, value in entry.items():
            values.setdefault(name, []).append(value)
    return values


def fit_space_to_data(config: StudyConfig, task: Task) -> tuple[StudyConfig, dict[str, Any]]:
    """``config`` with the dimensions it leaves to the default fitted to ``task``'s data.

    Returns:
        The fitted config (the fitted dimensions written into its ``space``, so they are
        stored with the study) and the statistics to store as :data:`DERIVED_ATTR`.

    Raises:
        ObjectiveError: The data contradicts the space (the task's one-line reason).
    """
    derived = task.derive_space(
        config.search_space().to_mapping(),
        given=set(config.space),
        epochs=config.epochs,
        keep=reference_values(config),
    )
    if not derived.updates:
        return config, {}
    fitted = dataclasses.replace(config, space={**config.space, **derived.updates})
    try:
        fitted.search_space()
        fitted.baseline_params()
        fitted.known_good_params()
    except ConfigError as exc:  # a task's derivation gave a space the config cannot use
        raise ObjectiveError(f"the space fitted to the data is not usable: {exc}") from None
    return fitted, derived.statistics


def space_for_study(
    config: StudyConfig, task: Task | None, stored: Mapping[str, Any] | None
) -> tuple[StudyConfig, dict[str, Any]]:
    """``config`` with its space fitted to the data the way its study's is.

    Args:
        config: The config a worker runs.
        task: Its loaded data (needed for a new study; for an existing one, its checks run
            when it is given).
        stored: The study's user attributes when it exists with a stored config, else
            ``None``.

    Returns:
        For a new study, :func:`fit_space_to_data`. For an existing one, ``config`` with the
        dimensions its study fitted when it was created (and ``config`` leaves unset) taken
        from the stored space, so running the same config again resumes the study instead
        of differing from it; nothing new to store.
    """
    if stored is None:
        if task is None:
            raise ValueError("a new study's space is fitted to its loaded data: pass the task")
        return fit_space_to_data(config, task)
    if task is not None:  # its checks still run: a vectors file gone missing fails here
        task.derive_space(
            config.search_space().to_mapping(),
            given=set(config.space),
            epochs=config.epochs,
            keep={},
        )
    stored_space = dict(stored.get(CONFIG_ATTR, {}).get("space", {}))
    updates = {
        name: stored_space[name]
        for name in stored.get(DERIVED_ATTR, {})
        if name not in config.space and name in stored_space
    }
    if not updates:
        return config, {}
    return dataclasses.replace(config, space={**config.space, **updates}), {}


def fit_to_study(
    config: StudyConfig,
    opener: Callable[[str], optuna.storages.BaseStorage] | None = None,
    task: Task | None = None,
) -> tuple[StudyConfig, dict[str, Any]]:
    """``config`` with its space fitted to the data the way its study's is.

    For a new study the data is read now unless ``task`` is given (a bad data setting
    fails before the study exists), and the fit is returned to store with it
    (``create_study(..., derived_space=...)``); an existing study's stored fit is reused.
    A plain objective's space is left as it is. ``opener`` opens the storage (the
    command's :class:`storage.StorageOpener`, so it is opened once).
    """
    if config.objective is not None:
        return config, {}
    stored = None
    if storage.storage_exists(config.storage):  # a missing database file is not created here
        stored = _stored_attrs(config.study, (opener or storage.open_storage)(config.storage))
    if stored is None and task is None:
        task = config.task_class.load(config.task, config.task.split(config.seed))
    return space_for_study(config, task, stored)


def _stored_attrs(study_name: str, backend: optuna.storages.BaseStorage) -> dict[str, Any] | None:
    """The user attributes of ``study_name`` if it exists with a stored config, else ``None``."""
    try:
        attrs = optuna.load_study(study_name=study_name, storage=backend).user_attrs
    except KeyError:
        return None
    return attrs if CONFIG_ATTR in attrs else None


def derived_lines(derived: Mapping[str, Any]) -> list[str]:
    """One line per fitted dimension, with the statistics that chose it."""
    lines = []
    for name, entry in derived.items():
        reasons = {k: v for k, v in entry.items() if k != "space"}
        detail = ", ".join(f"{k} {_plain(v)}" for k, v in reasons.items())
        lines.append(f"{name} = {_plain(entry.get('space'))} (from the data: {detail})")
    return lines


def _plain(value: Any) -> str:
    if isinstance(value, Mapping):
        if value.get("type") == "categorical":
            return str(value["choices"])
        if "low" in value:
            return f"{value['low']:g}..{value['high']:g}"
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
