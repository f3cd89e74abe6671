"""A seed-robust final pick: re-train a study's best trials with other seeds (``best --confirm``).

The best trial of a search is partly the luckiest seed: among many configurations scored
once, the top one is likely to have drawn a good initialisation. Here the top ``K`` trials
(by validation value) are trained again with ``S`` fresh seeds each, as trials of a linked
study ``<study>-confirm`` in the same storage:

- each repeat is a queued trial with the source trial's params and user attributes
  ``seed`` (the training seed, :data:`objectives.errors.SEED_ATTR`) and ``source_trial``;
  queued trials are never taken for duplicates (:func:`search._distinct.queued_on_purpose`);
- the linked study's budget is the number of repeats, its pruner is off (a repeat is a
  measurement, not a candidate to stop early), it keeps every repeat's checkpoint, and its
  workers run queued trials only; ``hpsearch worker --study <study>-confirm`` joins it;
- the repeat seeds are the study's seed + 1 .. + S: the source trial's own run (the study's
  seed) is the lucky draw that got it chosen, so it is left out of the means; the same
  seeds for every configuration make the comparison paired.

The pick is the configuration with the best mean validation value (never the test score:
the test split is only reported).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import storage
from objectives.errors import SEED_ATTR
from search._distinct import SOURCE_TRIAL_ATTR
from search._study import (
    CONFIRM_OF_ATTR,
    create_study,
    load_task,
    open_study,
    run_study,
    stored_config,
)
from search._worker import StopFlag
from search.errors import ConfigError, StudyError

CONFIRM_SUFFIX = "-confirm"


def confirm_study_name(study_name: str) -> str:
    """The linked study that holds ``study_name``'s seed repeats."""
    return f"{study_name}{CONFIRM_SUFFIX}"


def repeat_seeds(study_seed: int, n_seeds: int) -> list[int]:
    """Training seeds of the repeats: the study's seed + 1 .. + ``n_seeds``."""
    return [study_seed + offset for offset in range(1, n_seeds + 1)]


def check_counts(top_k: int, n_seeds: int) -> None:
    """Raise :class:`ConfigError` for a ``--confirm`` or ``--seeds`` below what is needed."""
    if top_k < 1:
        raise ConfigError(f"--confirm must be at least 1 (trials to re-train), but got {top_k}")
    if n_seeds < 2:
        raise ConfigError(
            f"--seeds must be at least 2 (a standard deviation needs two runs), but got {n_seeds}"
        )


def top_trials(study: optuna.Study, top_k: int) -> list[FrozenTrial]:
    """The ``top_k`` completed trials of a single-objective study, best first.

    Raises:
        ConfigError: The study has fewer completed trials than ``top_k``.
        StudyError: The study has several objectives (no single ranking).
    """
    if len(study.directions) > 1:
        raise StudyError(
            f"study {study.study_name!r} has {len(study.directions)} objectives, so no single "
            "ranking to confirm; --confirm needs a single-objective study"
        )
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    if len(complete) < top_k:
        raise ConfigError(
            f"--confirm {top_k} asks for the best {top_k} trials, but study "
            f"{study.study_name!r} has {len(complete)} completed; accepted: 1..{len(complete)}"
            if complete
            else f"study {study.study_name!r} has no completed trial yet to confirm"
        )
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    # A stable sort of trials in number order: ties keep the earlier trial first.
    by_number = sorted(complete, key=lambda t: t.number)
    return sorted(by_number, key=lambda t: float(t.value or 0.0), reverse=maximize)[:top_k]


@dataclass
class ConfigurationResult:
    """One source configuration's repeats."""

    source_trial: int
    source_value: float
    params: dict[str, Any]
    seeds: list[int]
    validation: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    failed: int = 0

    @property
    def validation_mean(self) -> float | None:
        return statistics.fmean(self.validation) if self.validation else None

    @staticmethod
    def spread(values: Sequence[float]) -> str:
        """``mean +- std`` of ``values`` (the mean alone for one value, ``-`` for none)."""
        if not values:
            return "-"
        if len(values) == 1:
            return f"{values[0]:.4f} (1 run)"
        return f"{statistics.fmean(values):.4f} +- {statistics.stdev(values):.4f}"

    def row(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "source_trial": self.source_trial,
            "source_value": self.source_value,
            "seeds_done": len(self.validation),
            "seeds": self.seeds,
            "failed": self.failed,
            "validation_mean": self.validation_mean,
            "validation_std": _stdev(self.validation),
            "test_mean": statistics.fmean(self.test) if self.test else None,
            "test_std": _stdev(self.test),
            "trials": self.trials,
            "params": self.params,
        }


def _stdev(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


@dataclass
class Confirmation:
    """The repeats of a study's top configurations and the pick."""

    study_name: str
    confirm_study: str
    metric: str
    direction: str
    configurations: list[ConfigurationResult]
    pending: int  # repeats not finished yet (queued or running elsewhere)

    @property
    def pick(self) -> ConfigurationResult | None:
        """The configuration with the best mean validation value (``None``: no repeat yet)."""
        done = [c for c in self.configurations if c.validation]
        if not done:
            return None
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(done, key=lambda c: (sign * (c.validation_mean or 0.0), -c.source_trial))

    def lines(self) -> list[str]:
        """The table: per configuration, validation and test mean +- std over the seeds."""
        header = (
            f"{'source':>7} {'single run':>10} {'seeds':>5}  "
            f"{'validation ' + self.metric + ' mean +- std':>30}  "
            f"{'test ' + self.metric + ' mean +- std':>26}"
        )
        out = [
            f"confirmation of study {self.study_name!r} in {self.confirm_study!r} "
            f"(validation {self.metric}, {self.direction}):",
            header,
        ]
        pick = self.pick
        for c in self.configurations:
            mark = "*" if pick is not None and c is pick else " "
            failed = f" ({c.failed} failed)" if c.failed else ""
            out.append(
                f"{mark}#{c.source_trial:<5} {c.source_value:>10.4f} "
                f"{len(c.validation):>2}/{len(c.seeds):<2}  "
                f"{c.spread(c.validation):>30}  {c.spread(c.test):>26}{failed}"
            )
        if self.pending:
            out.append(
                f"{self.pending} repeats not finished yet; run `hpsearch best --study "
                f"{self.study_name} --confirm ...` again (or `hpsearch worker --study "
                f"{self.confirm_study}`) to finish them"
            )
        if pick is not None:
            out.append(
                f"pick: trial #{pick.source_trial} (best mean validation {self.metric} over "
                f"{len(pick.validation)} seeds, not the luckiest single run): {pick.params}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        pick = self.pick
        return {
            "study": self.study_name,
            "confirm_study": self.confirm_study,
            "metric": self.metric,
            "direction": self.direction,
            "pending": self.pending,
            "pick": pick.source_trial if pick is not None else None,
            "configurations": [c.row() for c in self.configurations],
        }


def _repeat_key(trial: FrozenTrial) -> tuple[int, int] | None:
    source, seed = trial.user_attrs.get(SOURCE_TRIAL_ATTR), trial.user_attrs.get(SEED_ATTR)
    return None if source is None or seed is None else (int(source), int(seed))


def queue_repeats(
    study_name: str, storage_url: str, top_k: int, n_seeds: int
) -> tuple[optuna.Study, list[FrozenTrial], list[int]]:
    """Create (or resume) the linked study and queue the repeats it lacks.

    Returns:
        The linked study, the source trials (best first) and the repeat seeds.

    Raises:
        ConfigError: Bad ``top_k``/``n_seeds``, fewer completed trials than ``top_k``, or
            a plain-objective study (no task, no models).
        StudyError: The source study is missing or has several objectives, or a study of
            the linked name exists that is not its confirmation.
    """
    check_counts(top_k, n_seeds)
    source = open_study(study_name, storage_url)
    sources = top_trials(source, top_k)
    config = stored_config(source)
    if config.objective is not None:
        raise ConfigError(
            f"study {study_name!r} runs the plain objective {config.objective!r}, which keeps "
            "no models to score on test; --confirm needs a task study"
        )
    seeds = repeat_seeds(config.seed, n_seeds)
    name = confirm_study_name(study_name)
    existing = _existing_confirmation(name, storage_url, study_name)
    wanted = [(t.number, seed) for t in sources for seed in seeds]
    present = {
        key
        for t in (existing.get_trials(deepcopy=False) if existing else [])
        if t.state != TrialState.FAIL and (key := _repeat_key(t)) is not None
    }
    budget = len(present | set(wanted))
    # The data split (and folds) follow the study's seed, which is kept: every repeat is
    # scored on the same validation and test examples as the source trial.
    confirm_config = dataclasses.replace(
        stored_config(
            source,
            study=name,
            storage=storage_url,
            n_trials=budget,
            pruner={"name": "nop"},
            keep_checkpoints=max(budget, config.keep_checkpoints),
        ),
        timeout=None,
    )
    confirm = create_study(confirm_config, update_config=True)
    confirm.set_user_attr(CONFIRM_OF_ATTR, study_name)
    by_number = {t.number: t for t in sources}
    for number, seed in wanted:
        if (number, seed) not in present:
            confirm.enqueue_trial(
                by_number[number].params,
                user_attrs={SOURCE_TRIAL_ATTR: number, SEED_ATTR: seed},
                skip_if_exists=False,  # a repeat of the same params is the point
            )
    return confirm, sources, seeds


def _existing_confirmation(name: str, storage_url: str, source: str) -> optuna.Study | None:
    """The linked study if it exists; a study of that name that is not one is refused."""
    backend = storage.open_storage(storage_url)
    try:
        study = optuna.load_study(study_name=name, storage=backend)
    except KeyError:
        return None
    if study.user_attrs.get(CONFIRM_OF_ATTR) != source:
        raise StudyError(
            f"study {name!r} exists and is not the confirmation of {source!r}; rename it or "
            "use another storage"
        )
    return study


def confirm_best(
    study_name: str,
    storage_url: str,
    top_k: int,
    n_seeds: int,
    *,
    train: bool = True,
    stop: StopFlag | None = None,
    progress: bool = False,
    heartbeat_interval: int | None = 10,
) -> Confirmation:
    """Re-train the top ``top_k`` trials with ``n_seeds`` seeds each and summarise them.

    Args:
        study_name: The source study.
        storage_url: Where it lives (the linked study goes there too).
        top_k: Trials to re-train, best validation value first.
        n_seeds: Seeds per trial (at least 2).
        train: Run the linked study's queued repeats in this process (a worker among any
            others) before summarising; ``False`` only queues them for workers.
        stop: Stop flag of the in-process worker (see :func:`search.run_study`).
        progress: Show the in-process worker's progress on standard error.
        heartbeat_interval: Heartbeats of the in-process worker, so another worker can
            take over its repeat if this process dies.

    Returns:
        A :class:`Confirmation`; test scores are computed once per repeat and stored. A
        repeat that failed (diverged, out of memory) is queued again by the next call.
    """
    from search._evaluate import evaluate_trials

    confirm, sources, seeds = queue_repeats(study_name, storage_url, top_k, n_seeds)
    config = stored_config(confirm, storage=storage_url)
    task = load_task(config)  # once: for the repeats trained here and for their test scores
    if train:
        run_study(
            config,
            progress=progress,
            stop=stop,
            data=task,
            heartbeat_interval=heartbeat_interval,
        )
    trials = open_study(confirm.study_name, storage_url).get_trials(deepcopy=False)
    metric = config.metric[0]
    results = {
        t.number: ConfigurationResult(t.number, float(t.value or 0.0), dict(t.params), seeds)
        for t in sources
    }
    complete: dict[tuple[int, int], FrozenTrial] = {}
    pending: set[tuple[int, int]] = set()
    failed: set[tuple[int, int]] = set()
    for trial in trials:
        key = _repeat_key(trial)
        if key is None or key[0] not in results or key[1] not in seeds:
            continue
        if trial.state == TrialState.COMPLETE:
            complete.setdefault(key, trial)
        elif trial.state in (TrialState.WAITING, TrialState.RUNNING):
            pending.add(key)
        elif trial.state == TrialState.FAIL:
            failed.add(key)
    scores: dict[int, dict[str, Any]] = {}
    if complete:
        numbers = sorted(t.number for t in complete.values())
        for entry in evaluate_trials(confirm.study_name, numbers, storage_url, task=task):
            scores[int(entry["trial"])] = entry
    for (source, _seed), trial in sorted(complete.items()):
        result = results[source]
        result.trials.append(trial.number)
        result.validation.append(float(trial.value))  # type: ignore[arg-type]
        test_value = scores.get(trial.number, {}).get(metric)
        if test_value is not None:
            result.test.append(float(test_value))
    # A failed repeat that was re-queued (interrupted, its worker lost) is pending instead.
    for source, _seed in failed - set(complete) - pending:
        results[source].failed += 1
    return Confirmation(
        study_name,
        confirm.study_name,
        metric,
        config.direction[0],
        [results[t.number] for t in sources],
        len(pending - set(complete)),
    )


__all__ = [
    "Confirmation",
    "ConfigurationResult",
    "confirm_best",
    "confirm_study_name",
    "queue_repeats",
    "repeat_seeds",
]
