"""Joining or resuming a study: its stored config rules, and changes to it are explicit.

A study stores the config it was created with. A command that joins it (``run``, ``create``,
``worker``, ``launch``) starts from that config, so an option left out keeps its stored
value instead of a built-in default. An option given with another value than the stored
one is refused, naming each difference (old -> new), unless ``--update-config`` asks for the
change; then the new config is stored and the change is recorded with the number of the
first trial that runs under it (``hpsearch status`` lists the changes).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import optuna

import storage
from search._config import StudyConfig, build_config
from search.errors import StudyError

CONFIG_ATTR = "hpsearch_config"
CHANGES_ATTR = "hpsearch_config_changes"

# Settings of one process or one run, not of the study: a worker picks its own device, a
# run its own time limit, and the same database can be reached by other URLs.
PER_PROCESS_KEYS = ("study", "storage", "device", "cuda_graphs", "timeout")
# Trials are only comparable on the same task, data and objective: never changed in place.
_FIXED_KEYS = ("metric", "task.name", "task.data")
_UNSET = "(unset)"


def read_stored_config(
    study_name: str, storage_url: str, opener: storage.StorageOpener | None = None
) -> tuple[dict[str, Any], int] | None:
    """The config stored in the study and its number of trials; ``None`` without one.

    A missing SQLite or journal file is not created just to find that out. ``opener`` is
    the command's (the run then reuses the storage it opens here).
    """
    opener = opener or storage.StorageOpener()
    if not opener.exists(storage_url):
        return None
    backend = opener(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        return None
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        return None
    return dict(stored), len(study.get_trials(deepcopy=False))


def resolve_config(
    layers: Sequence[Mapping[str, Any]],
    *,
    update_config: bool = False,
    opener: storage.StorageOpener | None = None,
) -> StudyConfig:
    """The config a command runs: the study's stored config (if any) under ``layers``.

    Args:
        layers: What the user gave (see :func:`search._presets.config_layers`); they name the
            study and storage.
        update_config: Accept options that differ from the stored config (they are stored
            when the study is opened for the run).
        opener: Opens the storage for the command (a new one when ``None``).

    Raises:
        StudyError: An option differs from the stored config and ``update_config`` is off,
            or it changes the task, data or metric.
        ConfigError: A bad value.
    """
    fresh = build_config(*layers)
    found = read_stored_config(fresh.study, fresh.storage, opener)
    if found is None:
        return fresh
    stored, n_trials = found
    bottom = resumable(stored)
    if any("metric" in layer for layer in layers) and not any(
        "direction" in layer for layer in layers
    ):
        bottom.pop("direction", None)  # inferred from the metric given, as for a new study
    config = build_config(bottom, *layers)
    check_changes(config.study, stored, config, update_config=update_config, next_trial=n_trials)
    return config


def resumable(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config as the bottom layer of a resumed one (without its masked storage)."""
    return {k: v for k, v in stored.items() if k not in ("study", "storage")}


def config_changes(stored: Mapping[str, Any], config: StudyConfig) -> dict[str, list[Any]]:
    """``{setting: [old, new]}`` for each study setting where ``config`` differs from ``stored``.

    Both sides are compared in their resolved form (defaults filled, the search space
    complete), so a stored config written by an older version compares equal to itself.
    """
    before = _flatten(build_config(resumable(stored)).to_dict())
    after = _flatten(config.to_dict())
    changes: dict[str, list[Any]] = {}
    for key in sorted(before.keys() | after.keys()):
        if key.split(".", 1)[0] in PER_PROCESS_KEYS:
            continue
        old, new = before.get(key, _UNSET), after.get(key, _UNSET)
        if old != new:
            changes[key] = [old, new]
    return changes


def check_changes(
    study_name: str,
    stored: Mapping[str, Any],
    config: StudyConfig,
    *,
    update_config: bool,
    next_trial: int | None = None,
) -> dict[str, list[Any]]:
    """The changes ``config`` makes to the stored config, if they are allowed.

    Raises:
        StudyError: One line naming every difference (old -> new) when ``update_config`` is
            off, or naming a task/data/metric change, which is never allowed.
    """
    changes = config_changes(stored, config)
    if "direction" in changes:
        raise direction_error(study_name, *changes["direction"])
    for key in _FIXED_KEYS:
        if key in changes:
            old, new = changes[key]
            raise StudyError(
                f"study {study_name!r} was created with {key} {_show(old)}, but {_show(new)} "
                "was given; trials are only comparable on the same task, data and metric: "
                "choose another --study name"
            )
    if changes and not update_config:
        at = f"trial {next_trial}" if next_trial is not None else "the next trial"
        raise StudyError(
            f"study {study_name!r} exists with other settings: {describe_changes(changes)}; "
            f"leave these options out to resume it as stored, or add --update-config to store "
            f"the change (it applies from {at} on)"
        )
    return changes


def forget_stored_password(study: optuna.Study, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Mask a password that a study created by an older hpsearch stored with its URL."""
    stored = dict(stored)
    url = stored.get("storage")
    if isinstance(url, str) and storage.redact_url(url) != url:
        stored["storage"] = storage.redact_url(url)
        study.set_user_attr(CONFIG_ATTR, stored)
    return stored


def store_new_config(study: optuna.Study, config: StudyConfig) -> None:
    """Store the config of a study just created, and name its objective values in Optuna."""
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    study.set_user_attr("metric", config.metric[0])
    study.set_user_attr("metric_names", config.metric)
    study.set_user_attr("max_epochs", config.epochs)
    name_metrics(study, config)


def name_metrics(study: optuna.Study, config: StudyConfig) -> None:
    """Name the objective values in Optuna itself (optuna-dashboard, ``trials_dataframe``).

    Also for a study created before hpsearch named them, so its dashboard stops showing
    "Objective 0".
    """
    with warnings.catch_warnings():  # experimental in Optuna 5; chosen on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if study.metric_names != list(config.metric):
            study.set_metric_names(list(config.metric))


def direction_error(study_name: str, had: Sequence[str], asked: Sequence[str]) -> StudyError:
    """Optuna cannot change a study's directions, and values of both would not compare."""
    return StudyError(
        f"study {study_name!r} exists with direction {', '.join(had)} but the config asks "
        f"for {', '.join(asked)}; choose another --study name"
    )


def record_changes(
    study: optuna.Study, config: StudyConfig, changes: Mapping[str, list[Any]]
) -> int:
    """Store ``config`` in ``study`` and log ``changes`` with the trial they take effect at.

    Per-process settings keep their stored values (they are not the study's). Returns the
    number of the first trial that runs under the new config.
    """
    stored = dict(study.user_attrs.get(CONFIG_ATTR, {}))
    new = config.to_dict()
    for key in PER_PROCESS_KEYS:
        if key in stored:
            new[key] = stored[key]
    first_trial = len(study.get_trials(deepcopy=False))
    history = list(study.user_attrs.get(CHANGES_ATTR, []))
    history.append(
        {
            "trial": first_trial,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "changes": {key: list(pair) for key, pair in changes.items()},
        }
    )
    study.set_user_attr(CONFIG_ATTR, new)
    study.set_user_attr(CHANGES_ATTR, history)
    if "epochs" in changes:
        study.set_user_attr("max_epochs", config.epochs)
    return first_trial


def config_at_trial(study: optuna.Study, number: int) -> dict[str, Any]:
    """The stored config as it was when trial ``number`` ran (later changes undone)."""
    flat = _flatten(dict(study.user_attrs.get(CONFIG_ATTR, {})))
    for entry in reversed(study.user_attrs.get(CHANGES_ATTR, [])):
        if entry["trial"] <= number:
            break
        for key, (old, _new) in entry["changes"].items():
            if old == _UNSET:
                flat.pop(key, None)
            else:
                flat[key] = old
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        table, _, inner = key.partition(".")
        if inner:
            nested.setdefault(table, {})[inner] = value
        elif isinstance(value, dict):  # an empty table, such as the default [pruner]
            nested.setdefault(table, {})
        else:
            nested[table] = value
    return nested


def change_lines(study: optuna.Study) -> list[str]:
    """One line per recorded config change, oldest first, for ``hpsearch status``."""
    return [
        f"config changed from trial {entry['trial']} ({entry['at']}): "
        f"{describe_changes(entry['changes'])}"
        for entry in study.user_attrs.get(CHANGES_ATTR, [])
    ]


def describe_changes(changes: Mapping[str, Sequence[Any]]) -> str:
    """``epochs 5 -> 8, n_trials 30 -> 60``."""
    return ", ".join(f"{key} {_show(old)} -> {_show(new)}" for key, (old, new) in changes.items())


def _show(value: Any) -> str:
    if value == _UNSET:
        return _UNSET
    return json.dumps(value, sort_keys=True, default=str)


def _flatten(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"task": {"data": x}}`` -> ``{"task.data": x}``: one level, so each setting is named."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                flat[f"{key}.{inner}"] = inner_value
            if not value:
                flat[key] = {}
        else:
            flat[key] = value
    return flat
