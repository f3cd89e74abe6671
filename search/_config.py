"""Study configuration: defaults < config file (TOML or YAML) < command-line flags.

A config is validated once, here, at the boundary; every bad value gets one line that
names it and what would be accepted. The resolved config is stored in the study's user
attributes, so a worker that joins a study needs only its name and storage URL.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import tomllib

from objectives import (
    BUILTIN_DATASETS,
    CLASSIFICATION_PARAMETERS,
    OBJECTIVE_VALUES,
    PARAMETER_CHOICES,
    VALIDATION_METRICS,
)
from search._space import SearchSpace
from search.errors import ConfigError
from storage import DEFAULT_STORAGE_URL

TASKS = ("classification",)
DIRECTIONS = ("maximize", "minimize")
_MINIMIZED = {"loss", "train_seconds", "n_parameters"}

SAMPLERS: dict[str, str] = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
    "nsgaii": "NSGAIISampler",
    "cmaes": "CmaEsSampler",
}
PRUNERS: dict[str, str] = {
    "median": "MedianPruner",
    "percentile": "PercentilePruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "nop": "NopPruner",
}

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
    "keep_checkpoints",
    "task",
    "sampler",
    "pruner",
    "space",
)
_TASK_KEYS = (
    "name",
    "data",
    "test_data",
    "text_column",
    "label_column",
    "validation_fraction",
    "test_fraction",
    "max_length",
)


def default_space(task: str, data: str) -> dict[str, Any]:
    """The sensible default search space of ``task`` on ``data``; a config can narrow it."""
    space: dict[str, Any] = {
        "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
        "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
        "num_layers": {"type": "int", "low": 1, "high": 2},
        "bidirectional": {"type": "categorical", "choices": [False, True]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "embedding_dim": {"type": "int", "low": 16, "high": 128, "log": True},
        "aggregation": {"type": "categorical", "choices": ["last", "mean", "max"]},
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw"]},
        "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
        "weight_decay": {
            "type": "float",
            "low": 1e-6,
            "high": 1e-2,
            "log": True,
            "when": {"optimizer": ["adamw"]},
        },
        "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
        "grad_clip": {"type": "categorical", "choices": [0.0, 1.0, 5.0]},
    }
    if data not in BUILTIN_DATASETS:  # text: the vocabulary and length are searched too
        space["min_freq"] = {"type": "int", "low": 1, "high": 5}
        space["max_length"] = {"type": "categorical", "choices": [64, 128, 256]}
    return space


@dataclass
class TaskConfig:
    """What is learned from which data."""

    name: str = "classification"
    data: str = "digits"
    test_data: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    max_length: int = 400


@dataclass
class StudyConfig:
    """Everything a study needs; see ``examples`` in the README for the file form."""

    study: str = "demo"
    storage: str = DEFAULT_STORAGE_URL
    n_trials: int | None = 30
    timeout: float | None = None
    seed: int = 0
    epochs: int = 15
    device: str = "auto"
    metric: list[str] = field(default_factory=lambda: ["accuracy"])
    direction: list[str] = field(default_factory=lambda: ["maximize"])
    keep_checkpoints: int = 3
    task: TaskConfig = field(default_factory=TaskConfig)
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)

    @property
    def multi_objective(self) -> bool:
        """Whether the study optimizes more than one value (a Pareto search)."""
        return len(self.metric) > 1

    def search_space(self) -> SearchSpace:
        """The task's default space with this config's parameters laid over it."""
        merged = default_space(self.task.name, self.task.data)
        merged.update(self.space)
        return SearchSpace.from_mapping(
            merged, accepted=CLASSIFICATION_PARAMETERS, choices=PARAMETER_CHOICES
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, stored in the study (the space fully resolved)."""
        return {
            "study": self.study,
            "storage": self.storage,
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "seed": self.seed,
            "epochs": self.epochs,
            "device": self.device,
            "metric": list(self.metric),
            "direction": list(self.direction),
            "keep_checkpoints": self.keep_checkpoints,
            "task": dict(vars(self.task)),
            "sampler": dict(self.sampler),
            "pruner": dict(self.pruner),
            "space": self.search_space().to_mapping(),
        }

    def build_sampler(self) -> optuna.samplers.BaseSampler:
        """The Optuna sampler named in ``[sampler]``, seeded with ``seed``."""
        options = dict(self.sampler)
        name = options.pop("name", "tpe")
        cls = getattr(optuna.samplers, SAMPLERS[name])
        if "seed" in inspect.signature(cls).parameters:
            options.setdefault("seed", self.seed)
        return _construct(cls, options, f"sampler {name!r}")

    def build_pruner(self) -> optuna.pruners.BasePruner:
        """The Optuna pruner named in ``[pruner]`` (median by default; none for Pareto search)."""
        options = dict(self.pruner)
        name = options.pop("name", "nop" if self.multi_objective else "median")
        if name == "median":
            options = {"n_startup_trials": 5, "n_warmup_steps": 2, **options}
        if name == "hyperband":
            options.setdefault("max_resource", self.epochs)
        return _construct(getattr(optuna.pruners, PRUNERS[name]), options, f"pruner {name!r}")


def _construct(cls: type, options: dict[str, Any], what: str) -> Any:
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]
    for key in options:
        if key not in accepted:
            raise ConfigError(
                f"{what} has no setting {key!r}; accepted: {', '.join(accepted) or 'none'}"
            )
    try:
        return cls(**options)
    except ImportError as exc:
        raise ConfigError(f"{what} needs a package that is not installed: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
    for layer in layers:
        _check_keys(layer, _TOP_KEYS, "the config")
        for key, value in layer.items():
            if value is None:
                continue
            if key in ("task", "sampler", "pruner", "space") and isinstance(value, Mapping):
                if key in ("sampler", "pruner") and "name" in value:
                    merged[key] = {}  # a new sampler/pruner name starts from its own defaults
                merged[key] = {**merged.get(key, {}), **copy.deepcopy(dict(value))}
            else:
                merged[key] = value
    for key in ("task", "sampler", "pruner", "space"):
        if key in merged and not isinstance(merged[key], Mapping):
            raise ConfigError(f"'{key}' must be a table of settings, but got {merged[key]!r}")

    config = StudyConfig()
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

    task = dict(merged.get("task", {}))
    _check_keys(task, _TASK_KEYS, "[task]")
    config.task = TaskConfig(**{**vars(TaskConfig()), **task})
    if config.task.name not in TASKS:
        raise ConfigError(f"task {config.task.name!r} is not known; accepted: {', '.join(TASKS)}")
    for key in ("validation_fraction", "test_fraction"):
        value = _number(f"task.{key}", getattr(config.task, key), integer=False)
        if not 0 < value < 1:
            raise ConfigError(f"task.{key} must be between 0 and 1, but got {value}")
    _number("task.max_length", config.task.max_length, integer=True, minimum=1)

    metrics = _as_list(merged.get("metric", ["accuracy"]))
    if not 1 <= len(metrics) <= 2 or len(set(metrics)) != len(metrics):
        raise ConfigError(f"metric must name 1 or 2 different values, but got {metrics}")
    for name in metrics:
        if name not in OBJECTIVE_VALUES:
            raise ConfigError(
                f"metric {name!r} is not accepted; accepted: {', '.join(OBJECTIVE_VALUES)}"
            )
    if metrics[0] not in VALIDATION_METRICS:
        raise ConfigError(
            f"the first metric must be a validation metric ({', '.join(VALIDATION_METRICS)}), "
            f"but got {metrics[0]!r}"
        )
    if "direction" in merged:
        directions = _as_list(merged["direction"])
    else:
        directions = ["minimize" if m in _MINIMIZED else "maximize" for m in metrics]
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
    # Build everything once now so a bad value fails before any study is touched.
    config.search_space()
    config.build_sampler()
    config.build_pruner()
    return config


def _check_device(device: str) -> str:
    if device in ("auto", "cpu") or device == "cuda" or device.startswith("cuda:"):
        return device
    raise ConfigError(f"device {device!r} is not accepted; accepted: auto, cpu, cuda, cuda:N")


def load_config(path: str | Path | None = None, **overrides: Any) -> StudyConfig:
    """Read a config file (optional) and apply overrides (``None`` overrides are ignored).

    Args:
        path: A ``.toml`` or ``.yaml`` file, or ``None`` for the defaults.
        overrides: Top-level keys (``study``, ``storage``, ``n_trials``, ...) and, for the
            task, ``task``/``data``/``text_column``/``label_column``/``test_data``.

    Returns:
        The validated :class:`StudyConfig`.
    """
    base = read_config_file(path) if path is not None else {}
    task_overrides = {
        "name": overrides.pop("task", None),
        "data": overrides.pop("data", None),
        "text_column": overrides.pop("text_column", None),
        "label_column": overrides.pop("label_column", None),
        "test_data": overrides.pop("test_data", None),
    }
    flags = {k: v for k, v in overrides.items() if v is not None}
    task = {k: v for k, v in task_overrides.items() if v is not None}
    if task:
        flags["task"] = task
    return build_config(base, flags)
