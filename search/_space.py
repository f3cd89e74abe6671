"""Search spaces as data: each parameter is a float/int range, a set of choices, or fixed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import optuna

import storage
from search.errors import ConfigError

_KINDS = ("float", "int", "categorical", "fixed")
_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
    "fixed": {"type", "value", "when"},
}

Scalar = bool | int | float | str | None


@dataclass(frozen=True)
class Parameter:
    """One searched (or fixed) hyperparameter.

    Attributes:
        name: Hyperparameter name the objective reads.
        kind: ``float``, ``int``, ``categorical`` or ``fixed``.
        low: Lower bound of a range (inclusive).
        high: Upper bound of a range (inclusive).
        log: Sample a range on a log scale.
        step: Grid step of a range.
        choices: Values of a categorical parameter.
        value: Value of a fixed parameter.
        when: Condition: the parameter exists only when each named earlier parameter takes
            one of the listed values (e.g. ``{"cell": ["gru", "lstm"]}``).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] = ()
    value: Scalar = None
    when: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()

    @classmethod
    def from_spec(cls, name: str, spec: object) -> Parameter:
        """Build from a config value: a scalar (fixed) or a table with a ``type``.

        Raises:
            ConfigError: The spec names an unknown type or key, or an empty/inverted range.
        """
        where = f"space.{name}"
        if not isinstance(spec, Mapping):
            if isinstance(spec, list):
                raise ConfigError(
                    f"{where} = {spec!r} is a list; write "
                    f'{{type = "categorical", choices = {spec!r}}} to search over it'
                )
            return cls(name=name, kind="fixed", value=_scalar(where, spec))
        kind = spec.get("type")
        if kind not in _KINDS:
            raise ConfigError(
                f"{where}.type {kind!r} is not accepted; accepted: {', '.join(_KINDS)}"
            )
        unknown = sorted(set(spec) - _KEYS[kind])
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r} for type {kind!r}; "
                f"accepted: {', '.join(sorted(_KEYS[kind]))}"
            )
        when = _condition(where, spec.get("when"))
        if kind == "fixed":
            if "value" not in spec:
                raise ConfigError(f"{where} of type 'fixed' needs a 'value'")
            return cls(name=name, kind=kind, value=_scalar(where, spec["value"]), when=when)
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}.choices must be a non-empty list, but got {choices!r}")
            return cls(
                name=name,
                kind=kind,
                choices=tuple(_scalar(where, c) for c in choices),
                when=when,
            )
        return cls._range(name, kind, spec, when)

    @classmethod
    def _range(cls, name: str, kind: str, spec: Mapping[str, Any], when: Any) -> Parameter:
        where = f"space.{name}"
        for key in ("low", "high"):
            bound = spec.get(key)
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise ConfigError(f"{where}.{key} must be a number, but got {bound!r}")
            if kind == "int" and not float(bound).is_integer():
                raise ConfigError(
                    f"{where}.{key} must be a whole number for type 'int', got {bound}"
                )
        low, high = spec["low"], spec["high"]
        if low > high:
            raise ConfigError(f"{where}: low ({low}) must not be greater than high ({high})")
        log = bool(spec.get("log", False))
        step = spec.get("step")
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, but got low={low}")
        if step is not None:
            if log:
                raise ConfigError(f"{where}: step and log cannot be used together")
            if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
                raise ConfigError(f"{where}.step must be a positive number, but got {step!r}")
        if kind == "int":
            low, high = int(low), int(high)
            step = int(step) if step is not None else None
        return cls(name=name, kind=kind, low=low, high=high, log=log, step=step, when=when)

    def to_spec(self) -> Scalar | dict[str, Any]:
        """The config value this parameter was built from (round trip of :meth:`from_spec`)."""
        spec: dict[str, Any]
        if self.kind == "fixed" and not self.when:
            return self.value
        if self.kind == "fixed":
            spec = {"type": "fixed", "value": self.value}
        elif self.kind == "categorical":
            spec = {"type": "categorical", "choices": list(self.choices)}
        else:
            spec = {"type": self.kind, "low": self.low, "high": self.high}
            if self.log:
                spec["log"] = True
            if self.step is not None:
                spec["step"] = self.step
        if self.when:
            spec["when"] = {name: list(values) for name, values in self.when}
        return spec

    def active(self, chosen: Mapping[str, Any]) -> bool:
        """Whether this parameter's condition holds for the values chosen so far."""
        return all(chosen.get(name) in values for name, values in self.when)

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask ``trial`` for a value (fixed parameters are not recorded as Optuna params)."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))  # type: ignore[arg-type]
        assert self.low is not None and self.high is not None  # ranges always have bounds
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(
            self.name, float(self.low), float(self.high), step=self.step, log=self.log
        )

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this parameter's domain."""
        if self.kind == "fixed":
            return value == self.value
        if self.kind == "categorical":
            return value in self.choices
        assert self.low is not None and self.high is not None
        return self.low - 1e-12 <= value <= self.high + 1e-12 and not (
            isinstance(value, float) and math.isnan(value)
        )


def _scalar(where: str, value: object) -> Scalar:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(
        f"{where} value {value!r} is not accepted; accepted: a number, string, boolean, "
        "or a table with a 'type'"
    )


def _condition(where: str, when: object) -> tuple[tuple[str, tuple[Scalar, ...]], ...]:
    if when is None:
        return ()
    if not isinstance(when, Mapping) or not when:
        raise ConfigError(
            f'{where}.when must be a table like {{cell = ["gru", "lstm"]}}, but got {when!r}'
        )
    result = []
    for name, values in when.items():
        listed = values if isinstance(values, list) else [values]
        result.append((str(name), tuple(_scalar(f"{where}.when.{name}", v) for v in listed)))
    return tuple(result)


# Optuna's samplers that see the trial being suggested only through the FrozenTrial they are
# handed (its values so far included) and leave it out of the stored trials they learn from
# (TPE's constant liar drops it by number, brute force pops it, the others read finished
# trials or none): holding its writes until every value is drawn changes no proposal.
_HOLD_ALL = (
    "TPESampler",
    "RandomSampler",
    "GridSampler",
    "CmaEsSampler",
    "NSGAIISampler",
    "NSGAIIISampler",
    "BruteForceSampler",
)
# These read running trials' stored parameters when they first propose (GP keeps a running
# trial that has every parameter of its space, QMC builds its first space from them), so the
# parameters set before that (a queued trial's fixed ones, single-valued ranges) are written
# at once, as Optuna does; the rest are held.
_HOLD_AFTER_SAMPLING = ("GPSampler", "QMCSampler")


def _writes_for(trial: optuna.trial.BaseTrial) -> AbstractContextManager[None]:
    """How ``trial``'s parameters are written: held for one write where its sampler allows,
    else (a sampler from elsewhere, or a subclass) one by one."""
    if not isinstance(trial, optuna.Trial):
        return nullcontext()
    from search._distinct import PerTrialSeedSampler  # it imports this module

    sampler = trial.study.sampler
    if isinstance(sampler, PerTrialSeedSampler):
        sampler = sampler.wrapped
    name = type(sampler).__name__
    if getattr(optuna.samplers, name, None) is not type(sampler):
        return nullcontext()
    if name in _HOLD_ALL:
        return storage.params_in_one_write(trial)
    if name in _HOLD_AFTER_SAMPLING:
        return storage.params_in_one_write(trial, write_before_sampling=True)
    return nullcontext()


class SearchSpace:
    """An ordered set of :class:`Parameter`; conditions refer to earlier parameters."""

    def __init__(self, parameters: Iterable[Parameter]) -> None:
        self.parameters = list(parameters)
        seen: dict[str, Parameter] = {}
        for parameter in self.parameters:
            for name, values in parameter.when:
                if name not in seen:
                    raise ConfigError(
                        f"space.{parameter.name}.when refers to {name!r}, which is not a "
                        f"parameter defined before it; defined before: {', '.join(seen) or 'none'}"
                    )
                parent = seen[name]
                possible = parent.choices if parent.kind == "categorical" else (parent.value,)
                if parent.kind in ("categorical", "fixed"):
                    impossible = [v for v in values if v not in possible]
                    if impossible:
                        raise ConfigError(
                            f"space.{parameter.name}.when: {name} can never be "
                            f"{impossible[0]!r}; its values: {', '.join(map(str, possible))}"
                        )
            seen[parameter.name] = parameter

    @classmethod
    def from_mapping(
        cls,
        spec: Mapping[str, object],
        accepted: Iterable[str] | None = None,
        choices: Mapping[str, tuple[Any, ...]] | None = None,
    ) -> SearchSpace:
        """Build from the ``[space]`` table of a config.

        Args:
            spec: Parameter name to spec (see :meth:`Parameter.from_spec`).
            accepted: Names the objective reads; others are rejected with the accepted list.
            choices: Accepted values of categorical hyperparameters (e.g. ``cell``).
        """
        if accepted is not None:
            accepted = list(accepted)
            for name in spec:
                if name not in accepted:
                    raise ConfigError(
                        f"space parameter {name!r} is not a hyperparameter of this task; "
                        f"accepted: {', '.join(accepted)}"
                    )
        parameters = [Parameter.from_spec(name, value) for name, value in spec.items()]
        for parameter in parameters:
            allowed = (choices or {}).get(parameter.name)
            values = parameter.choices if parameter.kind == "categorical" else (parameter.value,)
            if allowed is None or parameter.kind not in ("categorical", "fixed"):
                continue
            for value in values:
                if value not in allowed or type(value) is not type(allowed[0]):
                    raise ConfigError(
                        f"space.{parameter.name} value {value!r} is not accepted; accepted: "
                        f"{', '.join(map(str, allowed))}"
                    )
        return cls(parameters)

    def to_mapping(self) -> dict[str, Any]:
        """Config form of the space (JSON/TOML friendly)."""
        return {p.name: p.to_spec() for p in self.parameters}

    @property
    def names(self) -> list[str]:
        """Parameter names in order."""
        return [p.name for p in self.parameters]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Values for every active parameter of ``trial`` (fixed ones included).

        On a database the trial's parameters are stored in one transaction where the
        study's sampler allows (:func:`storage.params_in_one_write`): the values, rows and
        sampler calls of :meth:`suggest_per_parameter`, without a commit per parameter.
        """
        with _writes_for(trial):
            return self.suggest_per_parameter(trial)

    def suggest_per_parameter(self, trial: optuna.Trial) -> dict[str, Any]:
        """:meth:`suggest` with one storage write per parameter (Optuna's own calls)."""
        chosen: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.active(chosen):
                chosen[parameter.name] = parameter.suggest(trial)
        return chosen

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether Optuna ``params`` of a trial could have come from this space."""
        chosen: dict[str, Any] = {}
        for parameter in self.parameters:
            if not parameter.active(chosen):
                if parameter.name in params:
                    return False
                continue
            value = parameter.value if parameter.kind == "fixed" else params.get(parameter.name)
            if parameter.kind != "fixed" and parameter.name not in params:
                return False
            if not parameter.contains(value):
                return False
            chosen[parameter.name] = value
        return set(params) <= set(chosen)
