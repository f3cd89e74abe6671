"""Many workers search, not repeat: per-trial sampler seeds and one training per configuration.

Two mechanisms, both independent of how workers are started (``run``, ``worker``,
``launch``, compose, a cluster scheduler):

- :class:`PerTrialSeedSampler` seeds the study's sampler afresh for every trial from the
  study's seed and the trial's number. Trial numbers are handed out by the storage, so
  they are unique across every process of a study: N workers (and a resumed study) draw
  N different sequences, while one process with a fixed seed repeats itself exactly.
- :class:`DistinctProposals` looks at a sampled configuration before it is trained; one
  identical to a finished, running or queued trial is given back instead (the worker
  resamples), and a small finite space is known to be exhausted when every configuration
  in it has been tried.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from search._space import Parameter, SearchSpace

if TYPE_CHECKING:
    from search._config import StudyConfig

# User attribute of a trial this module queued (an untried configuration of a finite space
# after a duplicate proposal); unlike a user's or the baseline's queued trial, it is still
# checked for duplicates, since two workers may queue the same one.
RESAMPLED_ATTR = "resampled_for"
DUPLICATE_ATTR = "duplicate_of"
# User attribute of a seed repeat that `hpsearch best --confirm` queued: the number of the
# trial it repeats (in the source study). A repeat is queued on purpose, never a duplicate.
SOURCE_TRIAL_ATTR = "source_trial"

# Enumerate a finite space only up to this size; a larger one is never exhausted in practice.
ENUMERATION_LIMIT = 4096

_TRIED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def trial_seed(seed: int, trial_number: int) -> int:
    """A 32-bit sampler seed for one trial: a stable hash of the study seed and its number."""
    digest = hashlib.blake2b(f"{seed}:{trial_number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


class PerTrialSeedSampler(BaseSampler):
    """The study's sampler, built afresh for each trial with :func:`trial_seed`.

    Optuna's samplers keep their history in the storage, not in the sampler object (TPE,
    random, GP, NSGA-II, CMA-ES), so a fresh one per trial loses nothing but its random
    state, which is the point. TPE's ``constant_liar`` (on by default in Optuna 5) still
    makes running trials of other workers repel new proposals.

    Args:
        build: Makes the wrapped sampler from a seed.
        seed: The study's seed.
    """

    def __init__(self, build: Callable[[int], BaseSampler], seed: int) -> None:
        self._build = build
        self._seed = seed
        self._current = build(seed)

    @property
    def wrapped(self) -> BaseSampler:
        """The sampler serving the current trial."""
        return self._current

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # One process runs its trials one after another, so one current sampler suffices:
        # before_trial, the suggestions and after_trial of a trial all reach the same one.
        self._current = self._build(trial_seed(self._seed, trial.number))
        self._current.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._current.infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return self._current.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._current.reseed_rng()


def _canonical(value: Any) -> Any:
    # A float grid point may come back as 0.30000000000000004 from one path and 0.3 from
    # another; 12 significant digits are the same configuration.
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.12g}")
    return value


def configuration_key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable form of a trial's parameters; equal keys are the same configuration."""
    return tuple(sorted((name, _canonical(value)) for name, value in params.items()))


def _parameter_values(parameter: Parameter) -> list[Any] | None:
    """Every value a parameter can take, or ``None`` for a continuous range."""
    if parameter.kind == "categorical":
        return list(parameter.choices)
    if parameter.kind == "fixed":
        return [parameter.value]
    assert parameter.low is not None and parameter.high is not None
    if parameter.kind == "int":
        step = int(parameter.step or 1)
        return list(range(int(parameter.low), int(parameter.high) + 1, step))
    if parameter.step is None:
        return None
    count = int(math.floor((parameter.high - parameter.low) / parameter.step + 1e-9)) + 1
    return [parameter.low + k * parameter.step for k in range(count)]


def enumerate_configurations(
    space: SearchSpace, limit: int = ENUMERATION_LIMIT
) -> list[dict[str, Any]] | None:
    """Every configuration (Optuna params, fixed ones left out) of a finite space.

    Conditional parameters appear only where their condition holds, as in a trial.

    Returns:
        The configurations, or ``None`` when the space is continuous or has more than
        ``limit`` of them.
    """
    partial: list[tuple[dict[str, Any], dict[str, Any]]] = [({}, {})]  # (chosen, params)
    for parameter in space.parameters:
        values = _parameter_values(parameter)
        extended: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for chosen, params in partial:
            if not parameter.active(chosen):
                extended.append((chosen, params))
            elif parameter.kind == "fixed":
                extended.append(({**chosen, parameter.name: parameter.value}, params))
            elif values is None:
                return None
            else:
                for value in values:
                    extended.append(
                        ({**chosen, parameter.name: value}, {**params, parameter.name: value})
                    )
            if len(extended) > limit:
                return None
        partial = extended
    return [params for _, params in partial]


def queued_on_purpose(trial: FrozenTrial) -> bool:
    """A trial someone queued (the baseline, a re-queued interrupted or crashed trial, a
    seed repeat of ``best --confirm``, a user's ``enqueue_trial``): it runs as asked, even
    if it repeats a configuration."""
    return "fixed_params" in trial.system_attrs and RESAMPLED_ATTR not in trial.user_attrs


def _tried(study: optuna.Study, exclude_trial_id: int) -> dict[tuple[Any, ...], int]:
    """Configuration key -> trial number of every finished, running or queued trial."""
    tried: dict[tuple[Any, ...], int] = {}
    for other in study.get_trials(deepcopy=False, states=_TRIED):
        if other._trial_id == exclude_trial_id:
            continue
        params = other.params if other.state != TrialState.WAITING else None
        if params is None:
            params = other.system_attrs.get("fixed_params")
        if params:
            tried.setdefault(configuration_key(params), other.number)
    return tried


@dataclass
class DistinctProposals:
    """How a worker keeps from training one configuration twice.

    Attributes:
        suggest: Makes a trial's suggestions (the study's search space) without training,
            so the configuration can be checked first; the objective's own suggestions then
            return the same values.
        configurations: Every configuration of a small finite space (see
            :func:`enumerate_configurations`), ``None`` for a large or continuous one.
        seed: The study's seed (which untried configuration a duplicate is replaced by).
        max_resamples: Duplicate proposals in a row after which a space without a known
            size counts as exhausted.
    """

    suggest: Callable[[optuna.Trial], Any]
    configurations: list[dict[str, Any]] | None = None
    seed: int = 0
    max_resamples: int = 20

    @classmethod
    def for_space(cls, space: SearchSpace, seed: int = 0) -> DistinctProposals:
        """Proposals over a :class:`SearchSpace`."""
        return cls(space.suggest, enumerate_configurations(space), seed)

    def duplicate_of(self, study: optuna.Study, trial: optuna.Trial) -> int | None:
        """The number of a finished, running or queued trial with ``trial``'s params."""
        return _tried(study, trial._trial_id).get(configuration_key(trial.params))

    def untried(self, study: optuna.Study) -> list[dict[str, Any]] | None:
        """Configurations of a finite space no trial has (``None``: size unknown)."""
        if self.configurations is None:
            return None
        tried = _tried(study, exclude_trial_id=-1)
        return [c for c in self.configurations if configuration_key(c) not in tried]

    def queue_untried(self, study: optuna.Study, trial_number: int) -> bool:
        """Queue one untried configuration of a finite space (chosen by the seed and
        ``trial_number``) in place of a duplicate; ``False`` when none is left or the size
        is unknown (the sampler then simply draws again)."""
        untried = self.untried(study)
        if not untried:
            return False
        choice = random.Random(trial_seed(self.seed, trial_number)).choice(untried)
        study.enqueue_trial(choice, user_attrs={RESAMPLED_ATTR: trial_number}, skip_if_exists=True)
        return True


def study_sampler(config: StudyConfig) -> BaseSampler:
    """The config's sampler, seeded per trial (:class:`PerTrialSeedSampler`).

    QMC is left as built: its points are numbered by the storage (each trial takes the next
    point of one scrambled sequence), so workers already draw different points, and a seed
    per trial would restart the sequence.
    """
    if config.sampler.get("name", "tpe") == "qmc":
        return config.build_sampler()
    base = int(config.sampler.get("seed", config.seed))

    def build(seed: int) -> BaseSampler:
        return replace(config, sampler={**config.sampler, "seed": seed}).build_sampler()

    return PerTrialSeedSampler(build, base)
