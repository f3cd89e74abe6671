"""Study configuration: defaults < config file (TOML or YAML) < command-line flags.

A config is validated once, here, at the boundary; every bad value gets one line that
names it and what would be accepted. The resolved config is stored in the study's user
attributes, so a worker that joins a study needs only its name and storage URL. The
config itself is :class:`search._study_config.StudyConfig`; presets and layers are in
:mod:`search._presets`.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomllib

from objectives import (
    BUILTIN_TASKS,
    COST_METRICS,
    GraphMode,
    ObjectiveError,
    TaskConfig,
    check_graph_mode,
    objective_values,
)
from search._plain import check_objective_reference
from search._study_config import (
    DIRECTIONS,
    PRUNERS,
    SAMPLERS,
    QueuedEntryError,
    StudyConfig,
    _Derived,
    default_space,
)
from search.errors import ConfigError
from storage.errors import first_line

logger = logging.getLogger("hpsearch")

_TOP_KEYS = (
    "study",
    "storage",
    "n_trials",
    "timeout",
    "seed",
    "epochs",
    "device",
    "metric",
    "direction",
    "objective",
    "keep_checkpoints",
    "folds",
    "early_stopping",
    "cuda_graphs",
    "task",
    "sampler",
    "pruner",
    "space",
    "baseline",
    "known_good",
)
_TASK_KEYS = (
    "name",
    "data",
    "test_data",
    "validation_data",
    "text_column",
    "label_column",
    "validation_fraction",
    "test_fraction",
    "max_length",
    "tag_column",
    "format",
    "vectors",
)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or YAML (``.yaml``/``.yml``) study config into a dict.

    Raises:
        ConfigError: The file is missing, has another extension, or does not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(
                f"config file {str(path)!r} has extension {suffix!r}; accepted: .toml, .yaml, "
                ".yml, .json"
            )
    except ConfigError:
        raise
    except Exception as exc:  # tomllib/yaml/json each raise their own parse error type
        first = first_line(exc)
        raise ConfigError(f"config file {str(path)!r} does not parse: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of settings at the top")
    return data


def _check_keys(table: Mapping[str, Any], accepted: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in accepted:
            raise ConfigError(f"unknown key {key!r} in {where}; accepted: {', '.join(accepted)}")


def _number(where: str, value: Any, *, integer: bool, minimum: float | None = None) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where} must be {kind}, but got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where} must be at least {minimum}, but got {value}")
    return value


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def build_config(*layers: Mapping[str, Any]) -> StudyConfig:
    """Validate and merge config layers (later layers win; ``None`` values are skipped).

    Args:
        layers: Dicts shaped like a config file, e.g. the file's contents then CLI flags.

    Raises:
        ConfigError: For the first bad key or value, naming it and what would be accepted.
    """
    merged: dict[str, Any] = {}
    layer_of: dict[str, int] = {}  # the last layer that set each key
    for index, layer in enumerate(layers):
        _check_keys(layer, _TOP_KEYS, "the config")
        for key, value in layer.items():
            if value is None:
                continue
            layer_of[key] = index
            if key in ("task", "sampler", "pruner", "space", "baseline") and isinstance(
                value, Mapping
            ):
                if key in ("sampler", "pruner") and "name" in value:
                    merged[key] = {}  # a new sampler/pruner name starts from its own defaults
                merged[key] = {**merged.get(key, {}), **copy.deepcopy(dict(value))}
            else:
                merged[key] = value
    for key in ("task", "sampler", "pruner", "space", "baseline"):
        if key in merged and not isinstance(merged[key], Mapping):
            raise ConfigError(f"'{key}' must be a table of settings, but got {merged[key]!r}")

    config = _Draft()
    if "study" in merged:
        config.study = str(merged["study"]).strip()
        if not config.study:
            raise ConfigError("study name must not be empty")
    if "storage" in merged:
        config.storage = str(merged["storage"])
    if "n_trials" in merged:
        config.n_trials = _number("n_trials", merged["n_trials"], integer=True, minimum=1)
    if "timeout" in merged:
        config.timeout = float(_number("timeout", merged["timeout"], integer=False, minimum=1))
    if "seed" in merged:
        config.seed = _number("seed", merged["seed"], integer=True, minimum=0)
    if "epochs" in merged:
        config.epochs = _number("epochs", merged["epochs"], integer=True, minimum=1)
    if "keep_checkpoints" in merged:
        config.keep_checkpoints = _number(
            "keep_checkpoints", merged["keep_checkpoints"], integer=True, minimum=1
        )
    if "device" in merged:
        config.device = _check_device(str(merged["device"]))
    if "folds" in merged:
        config.folds = _number("folds", merged["folds"], integer=True, minimum=1)
    if "early_stopping" in merged:
        config.early_stopping = _number(
            "early_stopping", merged["early_stopping"], integer=True, minimum=0
        )
    if "cuda_graphs" in merged:
        config.cuda_graphs = _check_graph_mode(merged["cuda_graphs"])

    task = dict(merged.get("task", {}))
    _check_keys(task, _TASK_KEYS, "[task]")
    config.task = TaskConfig(**{**vars(TaskConfig()), **task})
    try:
        task_type = config.task_class
    except ObjectiveError as exc:  # an unknown task, or a module:Class that is not one
        raise ConfigError(str(exc)) from None
    for key in ("validation_fraction", "test_fraction"):
        _number(f"task.{key}", getattr(config.task, key), integer=False)
    try:
        config.task.split(config.seed)  # the split's own rule for its fractions
    except ObjectiveError as exc:
        raise ConfigError(f"task.{exc}") from None
    _number("task.max_length", config.task.max_length, integer=True, minimum=1)
    if config.task.format not in task_type.formats:
        raise ConfigError(
            f"task.format {config.task.format!r} is not accepted for task "
            f"{config.task.name!r}; accepted: {', '.join(task_type.formats)}"
        )
    tag_column = config.task.tag_column
    if tag_column is not None and not task_type.reads_tag_column:
        readers = [name for name, task in BUILTIN_TASKS.items() if task.reads_tag_column]
        raise ConfigError(
            f"task.tag_column is not read by task {config.task.name!r} (the "
            f"{' and '.join(readers)} tasks read it)"
        )
    if config.task.vectors is not None and not task_type.reads_vectors:
        raise ConfigError(
            f"task.vectors is not read by task {config.task.name!r} (the text tasks "
            "classification, ner and pos read it)"
        )
    if config.folds > 1 and config.task.validation_data is not None:
        raise ConfigError(
            f"folds = {config.folds} and task.validation_data cannot be combined: folds score "
            "each trial on parts of the training data, a validation file scores it on that "
            "file; leave one of them out"
        )
    if not isinstance(config.task.vectors, (str, type(None))):
        raise ConfigError(f"task.vectors must be a file path, but got {config.task.vectors!r}")
    if isinstance(tag_column, bool) or not isinstance(tag_column, (int, str, type(None))):
        raise ConfigError(
            f"task.tag_column must be a column number or a Hugging Face column name, "
            f"but got {tag_column!r}"
        )

    if "objective" in merged:
        config.objective = check_objective_reference(merged["objective"])
    # A plain objective names its own values (Optuna's default direction: minimize).
    task_metrics = task_type.metrics if config.objective is None else ("value",)
    accepted_values = objective_values(task_type) if config.objective is None else None
    metrics = _as_list(merged.get("metric", [task_metrics[0]]))
    if not 1 <= len(metrics) <= 2 or len(set(metrics)) != len(metrics):
        raise ConfigError(f"metric must name 1 or 2 different values, but got {metrics}")
    for name in metrics:
        if accepted_values is not None and name not in accepted_values:
            raise ConfigError(
                f"metric {name!r} is not accepted; accepted: {', '.join(accepted_values)}"
            )
    if accepted_values is not None and metrics[0] not in task_metrics:
        raise ConfigError(
            f"the first metric must be a validation metric ({', '.join(task_metrics)}), "
            f"but got {metrics[0]!r}"
        )
    if "direction" in merged:
        directions = _as_list(merged["direction"])
    else:
        directions = [
            "minimize"
            if m in COST_METRICS or config.objective is not None
            else task_type.direction(m)
            for m in metrics
        ]
    if len(directions) != len(metrics):
        raise ConfigError(
            f"direction must give one direction per metric ({len(metrics)}), but got {directions}"
        )
    for direction in directions:
        if direction not in DIRECTIONS:
            raise ConfigError(
                f"direction {direction!r} is not accepted; accepted: {', '.join(DIRECTIONS)}"
            )
    config.metric, config.direction = metrics, directions

    config.sampler = dict(merged.get("sampler", {"name": "tpe"}))
    sampler_name = config.sampler.setdefault("name", "tpe")
    if sampler_name not in SAMPLERS:
        raise ConfigError(f"sampler {sampler_name!r} is not known; accepted: {', '.join(SAMPLERS)}")
    config.pruner = dict(merged.get("pruner", {}))
    pruner_name = config.pruner.get("name")
    if pruner_name is not None and pruner_name not in PRUNERS:
        raise ConfigError(f"pruner {pruner_name!r} is not known; accepted: {', '.join(PRUNERS)}")
    if config.multi_objective and pruner_name not in (None, "nop"):
        raise ConfigError(
            f"pruner {pruner_name!r} cannot be used with {len(metrics)} metrics: Optuna does not "
            'prune multi-objective studies; remove [pruner] or set name = "nop"'
        )
    config.space = dict(merged.get("space", {}))
    config.baseline = dict(merged.get("baseline", {}))
    config.known_good = _known_good(merged.get("known_good", []))
    if layer_of.get("known_good", -1) < layer_of.get("space", -1):
        # A preset's entries under a space a later layer (the user's file) narrowed: those
        # outside it are not the user's to fix, so they are left out, with a warning.
        config.known_good = _fitting_known_good(StudyConfig(**vars(config)))
    resolved = StudyConfig(**vars(config))
    # Build everything once now so a bad value fails before any study is touched.
    try:  # a setting the space needs (a vectors file) is missing: say so before any data
        task_type.check_space(resolved.task, resolved.search_space().to_mapping())
    except ObjectiveError as exc:
        raise ConfigError(str(exc)) from None
    resolved.baseline_params()
    resolved.known_good_params()
    resolved.build_sampler()
    resolved.build_pruner()
    return resolved


def _fitting_known_good(config: StudyConfig) -> list[dict[str, Any]]:
    """The ``[[known_good]]`` entries the space can produce; a warning for each other one."""
    kept = []
    for index, entry in enumerate(config.known_good):
        try:
            config.queued_params(entry, f"known_good[{index}]")
        except QueuedEntryError as exc:
            logger.warning(
                "%s; it was written for the space of an earlier config layer (a preset, a "
                "stored study), so it is left out (set known_good in your config to queue "
                "your own)",
                exc.problem,
            )
            continue
        kept.append(entry)
    return kept


def _known_good(value: Any) -> list[dict[str, Any]]:
    """``[[known_good]]`` as a list of tables (a later layer's list replaces an earlier's)."""
    if isinstance(value, Mapping):
        value = [value]  # one entry written as a table ([known_good]) is one entry
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        raise ConfigError(
            f"known_good must be a list of tables of parameters ([[known_good]] in TOML), "
            f"but got {value!r}"
        )
    return [copy.deepcopy(dict(entry)) for entry in value]


class _Draft(_Derived):
    """The values :func:`build_config` has checked so far; it becomes a :class:`StudyConfig`.

    It starts with the field defaults and has :class:`StudyConfig`'s attributes (typed
    ``Any`` here, checked by :class:`StudyConfig` itself when it is made).
    """

    def __init__(self) -> None:
        vars(self).update(vars(StudyConfig()))

    def __getattr__(self, name: str) -> Any:  # only reached for names not set yet
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)


def _check_graph_mode(mode: object) -> GraphMode:
    # YAML 1.1 reads a bare on/off as a boolean.
    if isinstance(mode, bool):
        mode = "on" if mode else "off"
    try:
        return check_graph_mode(mode)
    except ObjectiveError as exc:  # the rule and its message live with the graphs
        raise ConfigError(str(exc)) from None


def _check_device(device: str) -> str:
    if device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit()):
        return device
    raise ConfigError(f"device {device!r} is not accepted; accepted: auto, cpu, cuda, cuda:N")


__all__ = ["StudyConfig", "TaskConfig", "build_config", "default_space", "read_config_file"]
