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
from typing import Any, cast

import optuna
import tomllib

from objectives import (
    BUILTIN_DATASETS,
    GRAPH_MODES,
    PARAMETER_CHOICES,
    TASK_METRICS,
    TASK_PARAMETERS,
    TASKS,
    TEXT_FORMATS,
    GraphMode,
    objective_values,
)
from search._space import SearchSpace
from search.errors import ConfigError
from storage import DEFAULT_STORAGE_URL

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
    "folds",
    "cuda_graphs",
    "task",
    "sampler",
    "pruner",
    "space",
    "baseline",
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
    "tag_column",
    "format",
)


def schedule_space(epochs: int = 15) -> dict[str, Any]:
    """Learning-rate schedules as a searched choice, each with its own conditional settings."""
    half, three_quarters = max(1, epochs // 2), max(2, (3 * epochs) // 4)
    if three_quarters <= half:
        three_quarters = half + 1
    return {
        "scheduler": {
            "type": "categorical",
            "choices": ["none", "cosine", "step", "multistep", "onecycle", "plateau"],
        },
        "step_size": {
            "type": "int",
            "low": 1,
            "high": max(1, epochs // 2),
            "when": {"scheduler": ["step"]},
        },
        "milestones": {
            "type": "categorical",
            "choices": [f"{half},{three_quarters}"],
            "when": {"scheduler": ["multistep"]},
        },
        "gamma": {
            "type": "float",
            "low": 0.1,
            "high": 0.9,
            "when": {"scheduler": ["step", "multistep", "plateau"]},
        },
        "pct_start": {
            "type": "float",
            "low": 0.1,
            "high": 0.5,
            "when": {"scheduler": ["onecycle"]},
        },
        "patience": {"type": "int", "low": 0, "high": 3, "when": {"scheduler": ["plateau"]}},
        "warmup_epochs": {
            "type": "int",
            "low": 0,
            "high": 2,
            "when": {"scheduler": ["none", "cosine", "step", "multistep", "plateau"]},
        },
    }


def _optimizer_space(lr_high: float, batch_sizes: list[int]) -> dict[str, Any]:
    return {
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw"]},
        "lr": {"type": "float", "low": 1e-4, "high": lr_high, "log": True},
        "weight_decay": {
            "type": "float",
            "low": 1e-6,
            "high": 1e-2,
            "log": True,
            "when": {"optimizer": ["adamw"]},
        },
        "batch_size": {"type": "categorical", "choices": batch_sizes},
        "grad_clip": {"type": "categorical", "choices": [0.0, 1.0, 5.0]},
    }


def default_space(task: str, data: str, epochs: int = 15) -> dict[str, Any]:
    """The sensible default search space of ``task`` on ``data``; a config can narrow it.

    NER, POS and tabular spaces search the learning-rate schedule too (:func:`schedule_space`);
    classification searches it when a config's ``[space]`` names ``scheduler``.
    """
    schedules = schedule_space(epochs)
    if task == "tabular":
        space: dict[str, Any] = {"n_layers": {"type": "int", "low": 1, "high": 4}}
        for layer in range(1, 5):
            space[f"hidden_size_{layer}"] = {
                "type": "int",
                "low": 16,
                "high": 512,
                "log": True,
                "when": {"n_layers": list(range(layer, 5))},
            }
        space["activation"] = {"type": "categorical", "choices": ["relu", "tanh", "gelu"]}
        space["dropout"] = {"type": "float", "low": 0.0, "high": 0.5}
        return {**space, **_optimizer_space(3e-2, [32, 64, 128, 256]), **schedules}
    encoder: dict[str, Any] = {
        "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
        "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
        "num_layers": {"type": "int", "low": 1, "high": 2},
        "bidirectional": {"type": "categorical", "choices": [False, True]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "embedding_dim": {"type": "int", "low": 16, "high": 128, "log": True},
    }
    if task in ("ner", "pos"):
        with_chars = [16, 32, 48, 64]
        tagger = {
            **encoder,
            "char_embedding_dim": {"type": "int", "low": 0, "high": 64, "step": 16},
            "char_encoder": {
                "type": "categorical",
                "choices": ["cnn", "rnn"],
                "when": {"char_embedding_dim": with_chars},
            },
            "char_hidden_size": {
                "type": "int",
                "low": 16,
                "high": 64,
                "step": 16,
                "when": {"char_embedding_dim": with_chars},
            },
            **_optimizer_space(1e-2, [16, 32, 64]),
            "min_freq": {"type": "int", "low": 1, "high": 3},
        }
        return {**tagger, **schedules}
    space = {
        **encoder,
        "aggregation": {"type": "categorical", "choices": ["last", "mean", "max"]},
        **_optimizer_space(3e-2, [32, 64, 128]),
    }
    if data not in BUILTIN_DATASETS:  # text: the vocabulary and length are searched too
        space["min_freq"] = {"type": "int", "low": 1, "high": 5}
        space["max_length"] = {"type": "categorical", "choices": [64, 128, 256]}
    # Classification keeps the foundation's space (studies resumed across versions stay
    # comparable); its presets add the schedule dimensions in their [space].
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
    tag_column: str | int | None = None
    format: str = "auto"


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
    folds: int = 1
    cuda_graphs: GraphMode = "auto"
    task: TaskConfig = field(default_factory=TaskConfig)
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def multi_objective(self) -> bool:
        """Whether the study optimizes more than one value (a Pareto search)."""
        return len(self.metric) > 1

    def search_space(self) -> SearchSpace:
        """The task's default space with this config's parameters laid over it."""
        merged = default_space(self.task.name, self.task.data, self.epochs)
        merged.update(self.space)
        merged = _fit_default_conditions(merged, set(self.space))
        return SearchSpace.from_mapping(
            merged, accepted=TASK_PARAMETERS[self.task.name], choices=PARAMETER_CHOICES
        )

    def baseline_params(self) -> dict[str, Any]:
        """The ``[baseline]`` as Optuna params to enqueue (fixed parameters left out).

        Raises:
            ConfigError: A baseline value the search space could not produce: a name the
                task does not read, a value outside its range, a parameter the space fixes
                to another value or leaves out, or one whose condition does not hold.
        """
        space = self.search_space()
        accepted = TASK_PARAMETERS[self.task.name]
        for name in self.baseline:
            if name not in accepted:
                raise ConfigError(
                    f"baseline parameter {name!r} is not a hyperparameter of task "
                    f"{self.task.name!r}; accepted: {', '.join(accepted)}"
                )
        by_name = {p.name: p for p in space.parameters}
        for name in self.baseline:
            if name not in by_name:
                raise ConfigError(
                    f"baseline sets {name!r}, which the search space leaves out; add "
                    f"space.{name} so the baseline trial can use it"
                )
        chosen: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for parameter in space.parameters:
            if not parameter.active(chosen):
                if parameter.name in self.baseline:
                    raise ConfigError(
                        f"baseline sets {parameter.name!r}, but its condition "
                        f"{dict(parameter.when)} does not hold for the baseline"
                    )
                continue
            if parameter.name not in self.baseline:
                # A value the baseline leaves out is the objective's default where the space
                # holds it, so the hand-tuned trial is one fixed configuration; otherwise it
                # is sampled when the baseline runs (later conditions then cannot be checked).
                default = TASK_PARAMETERS[self.task.name].get(parameter.name)
                if parameter.name == "max_length" and default is None:
                    default = self.task.max_length  # None: sequences cut at the task's cap
                if (
                    parameter.kind != "fixed"
                    and default is not None
                    and parameter.contains(default)
                ):
                    chosen[parameter.name] = params[parameter.name] = default
                    continue
                chosen[parameter.name] = parameter.value if parameter.kind == "fixed" else None
                continue
            value = self.baseline[parameter.name]
            if not parameter.contains(value):
                raise ConfigError(
                    f"baseline {parameter.name}={value!r} lies outside space.{parameter.name} "
                    f"({parameter.to_spec()}); widen the space or change the baseline"
                )
            chosen[parameter.name] = value
            if parameter.kind != "fixed":
                params[parameter.name] = value
        return params

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
            "folds": self.folds,
            "cuda_graphs": self.cuda_graphs,
            "task": dict(vars(self.task)),
            "sampler": dict(self.sampler),
            "pruner": dict(self.pruner),
            "space": self.search_space().to_mapping(),
            "baseline": dict(self.baseline),
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


def _possible_values(spec: Any) -> list[Any] | None:
    """Values a parameter spec can take, when it is a finite set (else ``None``)."""
    if not isinstance(spec, Mapping):
        return [spec]
    if spec.get("type") == "categorical":
        return list(spec.get("choices", []))
    if spec.get("type") == "fixed":
        return [spec.get("value")]
    return None


def _fit_default_conditions(space: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """Shipped conditional parameters follow a config that narrows their parent.

    A default such as ``step_size`` (``when scheduler = step``) is dropped when the config's
    ``scheduler`` choices leave out ``step``, and its condition is trimmed to the values
    still possible; parameters the config itself sets are left for validation to judge.
    """
    fitted: dict[str, Any] = {}
    for name, spec in space.items():
        when = spec.get("when") if isinstance(spec, Mapping) else None
        if name in given or not when:
            fitted[name] = spec
            continue
        trimmed: dict[str, Any] = {}
        for parent, values in when.items():
            listed = values if isinstance(values, list) else [values]
            possible = _possible_values(fitted.get(parent, space.get(parent)))
            trimmed[parent] = listed if possible is None else [v for v in listed if v in possible]
        if parent_missing := [p for p in when if p not in fitted]:
            del parent_missing  # its parent was dropped: so is it
            continue
        if all(trimmed.values()):
            fitted[name] = {**spec, "when": trimmed}
    return fitted


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
    if "folds" in merged:
        config.folds = _number("folds", merged["folds"], integer=True, minimum=1)
    if "cuda_graphs" in merged:
        config.cuda_graphs = _check_graph_mode(merged["cuda_graphs"])

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
    formats = TEXT_FORMATS if config.task.name == "classification" else ("auto",)
    if config.task.format not in formats:
        raise ConfigError(
            f"task.format {config.task.format!r} is not accepted for task "
            f"{config.task.name!r}; accepted: {', '.join(formats)}"
        )
    tag_column = config.task.tag_column
    if tag_column is not None and config.task.name not in ("ner", "pos"):
        raise ConfigError(
            f"task.tag_column is for the ner and pos tasks, but the task is {config.task.name!r}"
        )
    if isinstance(tag_column, bool) or not isinstance(tag_column, (int, str, type(None))):
        raise ConfigError(
            f"task.tag_column must be a column number or a Hugging Face column name, "
            f"but got {tag_column!r}"
        )

    task_metrics = TASK_METRICS[config.task.name]
    accepted_values = objective_values(config.task.name)
    metrics = _as_list(merged.get("metric", [task_metrics[0]]))
    if not 1 <= len(metrics) <= 2 or len(set(metrics)) != len(metrics):
        raise ConfigError(f"metric must name 1 or 2 different values, but got {metrics}")
    for name in metrics:
        if name not in accepted_values:
            raise ConfigError(
                f"metric {name!r} is not accepted; accepted: {', '.join(accepted_values)}"
            )
    if metrics[0] not in task_metrics:
        raise ConfigError(
            f"the first metric must be a validation metric ({', '.join(task_metrics)}), "
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
    config.baseline = dict(merged.get("baseline", {}))
    # Build everything once now so a bad value fails before any study is touched.
    config.search_space()
    config.baseline_params()
    config.build_sampler()
    config.build_pruner()
    return config


def _check_graph_mode(mode: object) -> GraphMode:
    # YAML 1.1 reads a bare on/off as a boolean.
    if isinstance(mode, bool):
        mode = "on" if mode else "off"
    if mode not in GRAPH_MODES:
        raise ConfigError(
            f"cuda_graphs {mode!r} is not accepted; accepted: {', '.join(GRAPH_MODES)}"
        )
    return cast(GraphMode, mode)


def _check_device(device: str) -> str:
    if device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit()):
        return device
    raise ConfigError(f"device {device!r} is not accepted; accepted: auto, cpu, cuda, cuda:N")


PRESETS_DIR = Path(__file__).resolve().parent / "presets"
"""Preset study configs shipped with the package (copy one to start your own)."""


def preset_names() -> list[str]:
    """Names of the shipped presets (``imdb``, ``ner_uk``, ...)."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The TOML file of preset ``name``, to read or copy.

    Raises:
        ConfigError: No preset has that name (the message lists them).
    """
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"preset {name!r} is not known; accepted: {', '.join(preset_names())}")
    return path


def load_config(
    path: str | Path | None = None, *, preset: str | None = None, **overrides: Any
) -> StudyConfig:
    """Read a preset and/or a config file (optional) and apply overrides.

    Layers, later winning: defaults < preset < config file < overrides (``None`` ignored).

    Args:
        path: A ``.toml``/``.yaml``/``.json`` file, or ``None``.
        preset: A shipped preset name (see :func:`preset_names`), or ``None``.
        overrides: Top-level keys (``study``, ``storage``, ``n_trials``, ``folds``, ...) and,
            for the task, ``task``/``data``/``text_column``/``label_column``/``test_data``/
            ``tag_column``/``data_format``.

    Returns:
        The validated :class:`StudyConfig`.

    Raises:
        ConfigError: A bad value, or a preset without default data and no ``data`` given.
    """
    preset_layer = read_config_file(preset_path(preset)) if preset is not None else {}
    base = read_config_file(path) if path is not None else {}
    task_overrides = {
        "name": overrides.pop("task", None),
        "data": overrides.pop("data", None),
        "text_column": overrides.pop("text_column", None),
        "label_column": overrides.pop("label_column", None),
        "test_data": overrides.pop("test_data", None),
        "tag_column": overrides.pop("tag_column", None),
        "format": overrides.pop("data_format", None),
    }
    flags = {k: v for k, v in overrides.items() if v is not None}
    task = {k: v for k, v in task_overrides.items() if v is not None}
    if isinstance(task.get("tag_column"), str) and task["tag_column"].isdigit():
        task["tag_column"] = int(task["tag_column"])
    if task:
        flags["task"] = task
    if preset is not None:
        has_data = any(
            "data" in dict(layer.get("task", {})) for layer in (preset_layer, base, flags)
        )
        if not has_data:
            raise ConfigError(
                f"preset {preset!r} needs --data PATH; the formats it reads are described "
                f"at the top of {preset_path(preset)}"
            )
    return build_config(preset_layer, base, flags)
