"""Test-split scores of chosen trials' saved models (``hpsearch evaluate``).

The data is read once for all the trials asked for (reading it is most of the cost on a
small corpus), and each score is stored in the study by trial number, the same record
``hpsearch best --evaluate-test`` keeps: a trial is scored on the test split once, and the
split is never used to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import storage
from objectives import Task, model_from_checkpoint
from search._checkpoints import CheckpointStore
from search._reference import BASELINE_ATTR, baseline_of
from search._study import TEST_RESULTS_ATTR, load_task, open_study, stored_config
from search.errors import ConfigError, StudyError


def evaluate_trials(
    study_name: str,
    numbers: Sequence[int] = (),
    storage_url: str = storage.DEFAULT_STORAGE_URL,
    *,
    baseline: bool = False,
    task: Task | None = None,
) -> list[dict[str, Any]]:
    """Score the saved models of trials ``numbers`` (and the baseline) on the test split.

    Args:
        study_name: Study name.
        numbers: Trial numbers, in the order the results are returned (repeats dropped).
        storage_url: Where the study lives.
        baseline: Also score the trial(s) enqueued from the config's ``[baseline]``.
        task: The study's task already loaded by the caller (read here when ``None``).

    Returns:
        One dict per trial: ``trial``, ``n_test``, the task's test metrics (what is
        stored), and ``validation`` (the trial's objective values), ``baseline`` and
        ``cached`` (``True`` when the score was stored by an earlier evaluation).

    Raises:
        ConfigError: No trial asked for, or the study has no baseline trial.
        StudyError: The study is missing, a trial number is not in it, or a trial has no
            saved model (the message names the trials that have one).
    """
    study = open_study(study_name, storage_url)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    chosen = list(numbers)
    if baseline:
        # An interrupted baseline's re-queued copy is the baseline once it has completed.
        found = baseline_of(trials.values())
        if found is None:
            raise ConfigError(
                f"study {study_name!r} has no finished baseline trial; queue one with "
                "`hpsearch run --enqueue-baseline` (or pass --trial N)"
            )
        chosen.append(found.number)
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        raise ConfigError("name the trials to evaluate: --trial N (repeatable) or --baseline")
    unknown = [n for n in chosen if n not in trials]
    if unknown:
        raise StudyError(
            f"study {study_name!r} has no trial {trial_numbers(unknown)}; its trials are "
            f"{trial_numbers(list(trials)) if trials else 'none'}"
        )
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    saved = [n for n, t in trials.items() if checkpoints.has(t)]
    without = [n for n in chosen if n not in saved]
    if without:
        where = str(checkpoints.directory)
        having = (
            trial_numbers(saved)
            if saved
            else f"none in {where!r} (set HPSEARCH_ARTIFACTS if moved)"
        )
        raise StudyError(
            f"trial {trial_numbers(without)} of study {study_name!r} has no saved model (only "
            "completed trials among the best keep_checkpoints keep one); trials with a model: "
            f"{having}"
        )

    stored = dict(study.user_attrs.get(TEST_RESULTS_ATTR, {}))
    to_score = [n for n in chosen if str(n) not in stored]
    scored: dict[str, dict[str, Any]] = {}
    if to_score:
        if task is None:
            task = load_task(stored_config(study))  # once, for every trial scored here
        for number in to_score:
            model, info = model_from_checkpoint(checkpoints.load(trials[number]))
            metrics = task.score(model, task.test, task.resolve(info["params"]))
            per_type = metrics.pop("per_type_f1", None)
            entry = {"trial": number, "n_test": len(task.test), **metrics}
            if per_type is not None:
                entry["per_type_f1"] = per_type
            scored[str(number)] = entry
        # Re-read just before writing: another process may have stored scores meanwhile.
        latest = dict(study.user_attrs.get(TEST_RESULTS_ATTR, {}))
        study.set_user_attr(TEST_RESULTS_ATTR, {**latest, **scored})
    return [
        {
            **(scored.get(str(n)) or stored[str(n)]),
            "validation": trials[n].values,
            "baseline": bool(trials[n].user_attrs.get(BASELINE_ATTR)),
            "cached": str(n) not in scored,
        }
        for n in chosen
    ]


def trial_numbers(numbers: Sequence[int]) -> str:
    """``#3, #7`` (a long list shortened: the message stays one readable line)."""
    shown = ", ".join(f"#{n}" for n in numbers[:20])
    return shown + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")


__all__ = ["evaluate_trials", "trial_numbers"]
