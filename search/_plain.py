"""Plain Optuna objectives (``objective(trial) -> float``) run as hpsearch studies.

For people who already have an objective function: ``search.run(objective, config)`` or
``hpsearch run --objective mypkg.train:objective`` runs it with the service's storage,
workers, shared budget, heartbeats and reports. There is no task: the function suggests its
own parameters and trains its own model. It keeps a checkpoint by returning it after its
value, ``return accuracy, {"model": model.state_dict(), ...}``: the best trials keep theirs
(``keep_checkpoints``) and :func:`search.load_best_checkpoint` reads the best one back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import optuna

from objectives import ObjectiveError, load_reference
from search.errors import ConfigError

if TYPE_CHECKING:
    from search._config import StudyConfig
    from search._run_summary import RunSummary

Objective = Callable[[optuna.Trial], Any]
SaveCheckpoint = Callable[[optuna.Trial, dict[str, Any]], Any]

_GIVEN: dict[str, Objective] = {}
"""Functions handed to :func:`run` in this process, by their ``module:qualname``."""


def load_objective(reference: str) -> Objective:
    """The callable ``module:function`` names.

    Raises:
        ConfigError: The module or function is missing, or it is not callable.
    """
    if reference in _GIVEN:
        return _GIVEN[reference]
    try:
        value = load_reference(reference, "objective")
    except ObjectiveError as exc:
        raise ConfigError(str(exc)) from None
    if not callable(value) or isinstance(value, type):
        raise ConfigError(
            f"objective {reference!r} is {value!r}, not a function of an Optuna trial"
        )
    return value  # type: ignore[no-any-return]


def keeping_checkpoints(objective: Objective, save: SaveCheckpoint) -> Objective:
    """``objective``, with a checkpoint it returns after its value(s) saved and taken off.

    ``(value, checkpoint)`` or ``(value_1, value_2, checkpoint)``: a dict last in a returned
    tuple is the checkpoint (values are numbers, so nothing else is taken for one). It must
    hold tensors and plain types only, as it is read back with ``weights_only=True``.
    """

    def run_trial(trial: optuna.Trial) -> Any:
        result = objective(trial)
        if isinstance(result, tuple) and len(result) > 1 and isinstance(result[-1], Mapping):
            *values, checkpoint = result
            save(trial, dict(checkpoint))
            return values[0] if len(values) == 1 else values
        return result

    return run_trial


def check_objective_reference(reference: object) -> str:
    """``reference`` if it names an importable objective function (checked once, here)."""
    if not isinstance(reference, str):
        raise ConfigError(f"objective must be 'module:function', but got {reference!r}")
    load_objective(reference)
    return reference


def run(
    objective: Objective | str,
    config: StudyConfig | Mapping[str, Any] | None = None,
    **options: Any,
) -> RunSummary:
    """Run a plain Optuna objective as an hpsearch study until its budget is reached.

    Args:
        objective: ``objective(trial) -> float`` (or values, one per metric, optionally
            followed by a checkpoint dict: see :func:`keeping_checkpoints`), or its
            ``module:function`` name; a name is stored with the study, so ``hpsearch
            worker`` processes can join it.
        config: A :class:`~search.StudyConfig`, or a dict shaped like a config file
            (``study``, ``storage``, ``n_trials``, ``direction``, ``sampler``, ...).
        options: Passed to :func:`search.run_study` (``progress``, ``stop``,
            ``heartbeat_interval``).

    Example:
        >>> def objective(trial):
        ...     x = trial.suggest_float("x", -10, 10)
        ...     return (x - 2) ** 2
        >>> search.run(objective, {"study": "quadratic", "n_trials": 20})
    """
    from search._config import StudyConfig, build_config
    from search._study import run_study

    layer: dict[str, Any] = {}
    if isinstance(config, StudyConfig):
        layer = {k: v for k, v in config.to_dict().items() if k != "space"}
    elif config is not None:
        layer = dict(config)
    if isinstance(objective, str):
        layer["objective"] = objective
    else:
        # Stored under its name: a worker that can import it joins; this process has it.
        name = f"{objective.__module__}:{getattr(objective, '__qualname__', repr(objective))}"
        _GIVEN[name] = objective
        layer["objective"] = name
    return run_study(build_config(layer), **options)
