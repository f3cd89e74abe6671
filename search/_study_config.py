"""The validated study configuration: what a study searches, how, and for how long.

:func:`search._config.build_config` makes a :class:`StudyConfig` from config layers and
checks every value once; downstream code trusts it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import optuna

from objectives import (
    GraphMode,
    Task,
    TaskConfig,
    task_class,
)
from search._budget import DEFAULT_PRUNER, pruner_options, sampler_options
from search._space import SearchSpace
from search.errors import ConfigError
from storage import DEFAULT_STORAGE_URL, redact_url

DIRECTIONS = ("maximize", "minimize")

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


def default_space(task: str, data: str, epochs: int = 15) -> dict[str, Any]:
    """The default search space of ``task`` on ``data`` (the task's own; a config narrows it)."""
    return task_class(task).default_space(TaskConfig(name=task, data=data), epochs)


class QueuedEntryError(ConfigError):
    """A baseline or known-good entry the search space cannot produce.

    Attributes:
        problem: What is wrong with the entry, without the advice (a warning that leaves
            the entry out says what happens instead).
    """

    def __init__(self, problem: str, advice: str = "") -> None:
        super().__init__(f"{problem}; {advice}" if advice else problem)
        self.problem = problem


class _Derived:
    """What follows from a config's task and metrics (shared by the draft and the result)."""

    task: TaskConfig
    metric: list[str]

    @property
    def task_class(self) -> type[Task]:
        """The class of ``[task] name`` (built in, an entry point, or ``module:Class``)."""
        return task_class(self.task.name)

    @property
    def multi_objective(self) -> bool:
        """Whether the study optimizes more than one value (a Pareto search)."""
        return len(self.metric) > 1


@dataclass(frozen=True)
class StudyConfig(_Derived):
    """Everything a study needs; see ``examples`` in the README for the file form.

    Made by :func:`build_config`, which checks every value once; downstream code trusts it.
    Frozen: a changed setting is a new config (``dataclasses.replace``), so what was derived
    from it (the search space) is never stale.
    """

    study: str = "demo"
    storage: str = DEFAULT_STORAGE_URL
    # 20 x 10 keeps the README's `hpsearch run` (digits) near 2 minutes on 2 CPU cores.
    n_trials: int | None = 20
    timeout: float | None = None
    seed: int = 0
    epochs: int = 10
    device: str = "auto"
    metric: list[str] = field(default_factory=lambda: ["accuracy"])
    direction: list[str] = field(default_factory=lambda: ["maximize"])
    keep_checkpoints: int = 3
    folds: int = 1
    early_stopping: int = 0
    """Epochs without a better validation value after which a trial ends, complete (0: off)."""
    cuda_graphs: GraphMode = "auto"
    task: TaskConfig = field(default_factory=TaskConfig)
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe"})
    pruner: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    known_good: list[dict[str, Any]] = field(default_factory=list)
    """``[[known_good]]``: configurations known to do well, queued after the baseline."""
    objective: str | None = None
    """``module:function`` of a plain Optuna objective run instead of the task (optional)."""

    def search_space(self) -> SearchSpace:
        """The task's default space with this config's parameters laid over it (built once)."""
        return self._search_space

    @cached_property
    def _search_space(self) -> SearchSpace:
        task = self.task_class
        merged = task.default_space(self.task, self.epochs)
        merged.update(self.space)
        merged = _fit_default_conditions(merged, set(self.space))
        return SearchSpace.from_mapping(merged, accepted=task.parameters, choices=task.choices)

    def baseline_params(self) -> dict[str, Any]:
        """The ``[baseline]`` as Optuna params to enqueue (fixed parameters left out).

        Raises:
            ConfigError: A baseline value the search space could not produce: a name the
                task does not read, a value outside its range, a parameter the space fixes
                to another value or leaves out, or one whose condition does not hold.
        """
        return self.queued_params(self.baseline, "baseline")

    def known_good_params(self) -> list[dict[str, Any]]:
        """Each ``[[known_good]]`` entry as Optuna params to enqueue, in the config's order.

        An entry is checked as the baseline is, and what it leaves out is filled the same
        way (the task's defaults where the space holds them).

        Raises:
            ConfigError: As :meth:`baseline_params`, naming the entry (``known_good[1]``).
        """
        return [
            self.queued_params(entry, f"known_good[{i}]") for i, entry in enumerate(self.known_good)
        ]

    def queued_params(self, values: Mapping[str, Any], what: str) -> dict[str, Any]:
        """``values`` (a baseline or known-good entry) as one configuration of the space."""
        space = self.search_space()
        task = self.task_class
        accepted = task.parameters
        for name in values:
            if name not in accepted:
                raise QueuedEntryError(
                    f"{what} parameter {name!r} is not a hyperparameter of task {self.task.name!r}",
                    f"accepted: {', '.join(accepted)}",
                )
        by_name = {p.name: p for p in space.parameters}
        for name in values:
            if name not in by_name:
                raise QueuedEntryError(
                    f"{what} sets {name!r}, which the search space leaves out",
                    f"add space.{name} so the {what} trial can use it",
                )
        chosen: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for parameter in space.parameters:
            if not parameter.active(chosen):
                if parameter.name in values:
                    raise QueuedEntryError(
                        f"{what} sets {parameter.name!r}, but its condition "
                        f"{dict(parameter.when)} does not hold for the {what}"
                    )
                continue
            if parameter.name not in values:
                # A value the baseline leaves out is the objective's default where the space
                # holds it, so the hand-tuned trial is one fixed configuration; otherwise it
                # is sampled when the baseline runs (later conditions then cannot be checked).
                default = task.default_value(parameter.name, self.task)
                if (
                    parameter.kind != "fixed"
                    and default is not None
                    and parameter.contains(default)
                ):
                    chosen[parameter.name] = params[parameter.name] = default
                    continue
                chosen[parameter.name] = parameter.value if parameter.kind == "fixed" else None
                continue
            value = values[parameter.name]
            if not parameter.contains(value):
                raise QueuedEntryError(
                    f"{what} {parameter.name}={value!r} lies outside space.{parameter.name} "
                    f"({parameter.to_spec()})",
                    f"widen the space or change the {what}",
                )
            chosen[parameter.name] = value
            if parameter.kind != "fixed":
                params[parameter.name] = value
        return params

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, stored in the study (the space fully resolved)."""
        return {
            "study": self.study,
            "storage": redact_url(self.storage),  # the study is readable by anyone: no password
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "seed": self.seed,
            "epochs": self.epochs,
            "device": self.device,
            "metric": list(self.metric),
            "direction": list(self.direction),
            "keep_checkpoints": self.keep_checkpoints,
            "folds": self.folds,
            "early_stopping": self.early_stopping,
            "cuda_graphs": self.cuda_graphs,
            "task": dict(vars(self.task)),
            "sampler": dict(self.sampler),
            "pruner": dict(self.pruner),
            "space": self.search_space().to_mapping(),
            "baseline": dict(self.baseline),
            "known_good": [dict(entry) for entry in self.known_good],
            "objective": self.objective,
        }

    def build_sampler(self) -> optuna.samplers.BaseSampler:
        """The Optuna sampler named in ``[sampler]``, seeded with ``seed``."""
        options = dict(self.sampler)
        name = options.pop("name", "tpe")
        cls = getattr(optuna.samplers, SAMPLERS[name])
        options = sampler_options(name, options, self.n_trials)
        if "seed" in inspect.signature(cls).parameters:
            options.setdefault("seed", self.seed)
        return _construct(cls, options, f"sampler {name!r}")

    def build_pruner(self) -> optuna.pruners.BasePruner:
        """The Optuna pruner named in ``[pruner]`` (:data:`DEFAULT_PRUNER` by default; none
        for Pareto search), its unset warm-up settings sized to the budget."""
        options = dict(self.pruner)
        name = options.pop("name", "nop" if self.multi_objective else DEFAULT_PRUNER)
        options = pruner_options(name, options, self.n_trials, self.epochs)
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
