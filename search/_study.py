"""Studies: create or resume one from a config, run it, and read its results back."""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

import storage
from objectives import (
    ObjectiveSettings,
    Task,
    TaskObjective,
    TrialDiverged,
    TrialInterrupted,
    evaluate,
    load_classification_data,
    load_tabular_builtin,
    load_tabular_csv,
    load_tagging_data,
    make_task,
    model_from_checkpoint,
)
from search._checkpoints import CheckpointStore
from search._config import StudyConfig, build_config
from search._worker import (
    StopFlag,
    TrialOutOfMemory,
    WorkerResult,
    count_states,
    guard_out_of_memory,
    run_trials,
    stop_on_signals,
)
from search.errors import ConfigError, StudyError

logger = logging.getLogger("hpsearch")

CONFIG_ATTR = "hpsearch_config"
TEST_RESULTS_ATTR = "test_results"


def resolve_device(device: str) -> str:
    """``auto`` becomes a visible CUDA GPU, else ``cpu``.

    With several GPUs visible (a compose worker that reserves all of them) ``auto`` picks
    one at random, so workers started together spread over the GPUs instead of all landing
    on ``cuda:0``; choosing by free memory would need a CUDA context on every GPU.
    """
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        n_gpus = torch.cuda.device_count()
        return "cuda" if n_gpus == 1 else f"cuda:{random.randrange(n_gpus)}"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but no CUDA GPU is visible; use cpu")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {device!r} does not exist; visible GPUs: cuda:0..cuda:"
            f"{torch.cuda.device_count() - 1}"
        )
    return device


def open_study(study_name: str, storage_url: str) -> optuna.Study:
    """Load an existing study, with a clear error listing the studies that do exist."""
    backend = storage.open_storage(storage_url)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
        raise StudyError(
            f"study {study_name!r} does not exist in {storage_url}; existing studies: "
            f"{', '.join(names) or 'none'}"
        ) from None


def _directions(study: optuna.Study) -> list[str]:
    return [d.name.lower() for d in study.directions]


def create_study(
    config: StudyConfig,
    backend: optuna.storages.BaseStorage | None = None,
    *,
    enqueue_baseline: bool = False,
):
    """Create the study a config describes, or resume it if it exists with the same directions.

    The resolved config is stored in the study's user attributes (so workers and reports can
    read it), and so are ``metric``/``metric_names`` and ``max_epochs``.

    Args:
        config: A validated config.
        backend: An open storage for ``config.storage`` (opened here when ``None``).
        enqueue_baseline: Also queue the config's ``[baseline]`` as a trial to run next
            (user attribute ``baseline``); an identical queued or finished one is not added
            again.

    Raises:
        ConfigError: ``enqueue_baseline`` without a ``[baseline]``; nothing is created.
        StudyError: The study exists with other directions; nothing stored is changed.
    """
    if enqueue_baseline and not config.baseline:
        raise ConfigError(
            "--enqueue-baseline needs a [baseline] table in the config (each --preset has one)"
        )
    backend = backend or storage.open_storage(config.storage)
    try:
        study = optuna.load_study(
            study_name=config.study,
            storage=backend,
            sampler=config.build_sampler(),
            pruner=config.build_pruner(),
        )
    except KeyError:
        study = optuna.create_study(
            study_name=config.study,
            storage=backend,
            sampler=config.build_sampler(),
            pruner=config.build_pruner(),
            directions=config.direction,  # type: ignore[arg-type]  # validated in build_config
            load_if_exists=True,  # another worker may create it at the same moment
        )
    if _directions(study) != config.direction:
        raise StudyError(
            f"study {config.study!r} exists with direction {', '.join(_directions(study))} but "
            f"the config asks for {', '.join(config.direction)}; choose another --study name"
        )
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is not None:
        _check_same_problem(config, stored)
    study.set_user_attr(CONFIG_ATTR, config.to_dict())
    study.set_user_attr("metric", config.metric[0])
    study.set_user_attr("metric_names", config.metric)
    study.set_user_attr("max_epochs", config.epochs)
    if enqueue_baseline:
        study.enqueue_trial(
            config.baseline_params(), user_attrs={"baseline": True}, skip_if_exists=True
        )
    return study


def _check_same_problem(config: StudyConfig, stored: dict[str, Any]) -> None:
    """Trials are only comparable on the same task, data and metric."""
    asked = {"metric": config.metric, "task": config.task.name, "data": config.task.data}
    had = {
        "metric": stored.get("metric"),
        "task": stored.get("task", {}).get("name"),
        "data": stored.get("task", {}).get("data"),
    }
    for key, value in asked.items():
        if had[key] != value:
            raise StudyError(
                f"study {config.study!r} was created with {key} {had[key]!r}, but the config "
                f"asks for {value!r}; choose another --study name"
            )


def stored_config(optuna_study: optuna.Study, **overrides: Any) -> StudyConfig:
    """The config a study was created with (plus ``overrides``), for workers and reports."""
    stored = optuna_study.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        raise StudyError(
            f"study {optuna_study.study_name!r} was not created by hpsearch (no stored config); "
            "run `hpsearch run --config FILE --study NAME` to create it"
        )
    return build_config(stored, {k: v for k, v in overrides.items() if v is not None})


def worker_config(
    study_name: str,
    storage_url: str,
    *,
    config_path: str | None = None,
    **overrides: Any,
) -> StudyConfig:
    """The config a worker runs: the study's stored one, else a file's, else the defaults.

    ``overrides`` (``n_trials``, ``timeout``, ``device``, ...) win over either.
    """
    from search._config import load_config

    overrides = {k: v for k, v in overrides.items() if v is not None}
    names = {"study": study_name, "storage": storage_url}
    if config_path is not None:
        return load_config(config_path, **names, **overrides)
    backend = storage.open_storage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        return load_config(None, **names, **overrides)
    return stored_config(study, **names, **overrides)


_TABULAR_BUILTINS = ("wine", "breast_cancer", "iris", "digits")


def load_data(config: StudyConfig) -> Any:
    """Load the config's data once (for this process); every trial reuses it.

    Returns:
        :class:`~objectives.ClassificationData` for classification,
        :class:`~objectives.TaggingData` for ner/pos, :class:`~objectives.TabularData`.
    """
    task = config.task
    common: dict[str, Any] = {
        "seed": config.seed,
        "validation_fraction": task.validation_fraction,
        "test_fraction": task.test_fraction,
    }
    if task.name in ("ner", "pos"):
        return load_tagging_data(
            task.data,
            kind=task.name,  # type: ignore[arg-type]
            test_data=task.test_data,
            tag_column=task.tag_column,
            max_length=task.max_length,
            **common,
        )
    if task.name == "tabular":
        if task.data in _TABULAR_BUILTINS:
            return load_tabular_builtin(task.data, **common)  # type: ignore[arg-type]
        if task.data.lower().endswith((".conllu", ".conllu.gz", ".iob", ".iob.gz")):
            raise ConfigError(
                f"task 'tabular' needs a CSV with a label column, but {task.data!r} is a "
                "tagged corpus; use --task ner or pos"
            )
        return load_tabular_csv(task.data, task.label_column, **common)
    return load_classification_data(
        task.data,
        text_column=task.text_column,
        label_column=task.label_column,
        test_data=task.test_data,
        max_length=task.max_length,
        data_format=task.format,
        **common,
    )


def load_task(config: StudyConfig, data: Any = None) -> Task:
    """The config's task over its data (loaded now when ``data`` is ``None``)."""
    return make_task(config.task.name, data if data is not None else load_data(config))


@dataclass
class RunSummary:
    """What a run did and where the study stands."""

    study_name: str
    counts: dict[str, int]
    best_value: float | list[float] | None
    best_params: dict[str, Any] | None
    worker: WorkerResult
    budget: int | None
    best_trials: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        c = self.counts
        finished = c["COMPLETE"] + c["PRUNED"]
        budget = f" of {self.budget}" if self.budget else ""
        out = [
            f"study {self.study_name!r}: {finished}{budget} trials finished "
            f"({c['COMPLETE']} complete, {c['PRUNED']} pruned), {c['FAIL']} failed; "
            f"this run: {self.worker.trials_run} trials in {self.worker.seconds:.1f} s, "
            f"stopped by {self.worker.stopped_by}",
        ]
        if self.best_value is None:
            out.append("no completed trial yet")
        elif isinstance(self.best_value, list):
            out.append(f"Pareto front: trials {self.best_trials}")
        else:
            out.append(f"best value: {self.best_value:.6g}")
            out.append(f"best params: {self.best_params}")
        return out


class _Progress:
    """A progress bar over the study's budget, advanced after every trial of this worker."""

    def __init__(self, study: optuna.Study, budget: int | None, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            counts = count_states(study)
            self.bar = tqdm(
                total=budget, initial=counts["COMPLETE"] + counts["PRUNED"], unit="trial"
            )

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.bar is None:
            return
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.bar.update(1)
        # No completed trial yet, or a multi-objective study: no single best value to show.
        with contextlib.suppress(ValueError, RuntimeError):
            self.bar.set_postfix_str(f"best={study.best_value:.4g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_study(
    config: StudyConfig,
    *,
    progress: bool = True,
    stop: StopFlag | None = None,
    data: Any = None,
    enqueue_baseline_trial: bool = False,
    heartbeat_interval: int | None = None,
) -> RunSummary:
    """Create or resume ``config``'s study and run trials until its budget is reached.

    Args:
        config: A validated config.
        progress: Show a progress bar over trials.
        stop: Stop flag (SIGTERM/SIGINT set it); the trial in progress ends at its next
            epoch boundary and is re-queued.
        data: Preloaded data (loaded from the config when ``None``).
        enqueue_baseline_trial: Run the config's ``[baseline]`` first (once per study).
        heartbeat_interval: Seconds between heartbeats of the running trial; a trial whose
            worker dies is failed after three intervals and its parameters re-queued.
            ``None`` turns heartbeats off (one process alone needs none).

    Returns:
        A :class:`RunSummary`.
    """
    stop = stop or StopFlag()
    # Settings first: a setting the device cannot honour fails before storage is touched.
    settings = ObjectiveSettings(
        objectives=tuple(config.metric),
        max_epochs=config.epochs,
        seed=config.seed,
        device=resolve_device(config.device),
        folds=config.folds,
        cuda_graphs=config.cuda_graphs,
        stop_requested=stop,
    )
    backend = storage.open_storage(
        config.storage,
        heartbeat_interval=heartbeat_interval,
        grace_period=3 * heartbeat_interval if heartbeat_interval else None,
    )
    # Data first: a bad data setting must fail before the stored study is touched.
    task = load_task(config, data)
    study = create_study(config, backend, enqueue_baseline=enqueue_baseline_trial)
    checkpoints = CheckpointStore(
        storage.artifact_dir_for(config.storage) / config.study, keep=config.keep_checkpoints
    )
    space = config.search_space()
    objective = TaskObjective(task, space.suggest, settings, save_checkpoint=checkpoints.save)
    bar = _Progress(study, config.n_trials, progress)

    def keep_best(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            checkpoints.prune(study)

    with stop_on_signals(stop):
        try:
            result = run_trials(
                study,
                guard_out_of_memory(objective),
                n_trials=config.n_trials,
                timeout=config.timeout,
                stop=stop,
                catch=(TrialDiverged, TrialInterrupted, TrialOutOfMemory),
                callbacks=[keep_best, bar],
            )
        finally:
            bar.close()
    return summarize(study, result, config.n_trials)


def summarize(study: optuna.Study, result: WorkerResult, budget: int | None) -> RunSummary:
    """Counts by state and the best trial(s) of ``study``."""
    counts = count_states(study)
    best_value: float | list[float] | None = None
    best_params = None
    best_numbers: list[int] = []
    if counts["COMPLETE"]:
        if len(study.directions) > 1:
            best_numbers = [t.number for t in study.best_trials]
            best_value = [list(t.values) for t in study.best_trials][0]
        else:
            best_value = study.best_value
            best_params = study.best_params
    return RunSummary(
        study.study_name, counts, best_value, best_params, result, budget, best_numbers
    )


def best_trial(study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL) -> FrozenTrial:
    """The best trial of a single-objective study.

    Args:
        study_name: Study name.
        storage_url: Where the study lives.

    Returns:
        The Optuna ``FrozenTrial``.

    Raises:
        StudyError: The study is missing, has no completed trial, or has several objectives.
    """
    study = open_study(study_name, storage_url)
    if len(study.directions) > 1:
        raise StudyError(
            f"study {study_name!r} has {len(study.directions)} objectives, so no single best "
            "trial; read its Pareto front with optuna.load_study(...).best_trials"
        )
    try:
        return study.best_trial
    except ValueError:
        raise StudyError(f"study {study_name!r} has no completed trial yet") from None


def load_best_model(
    study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model of the best trial, in eval mode, and what is needed to use it.

    Works for every task: the checkpoint's ``kind`` picks the model class (classifier,
    tagger or MLP), and the file is read with ``torch.load(weights_only=True)``.

    Returns:
        ``(model, info)``; ``info`` has ``kind``, ``task``, ``label_names``, ``params``,
        ``metrics``, ``trial_number`` and the task's preprocessing (``vocabulary``,
        ``min_freq``, ``max_length`` for text; ``characters`` and ``scheme`` for taggers;
        ``feature_names``, ``mean``, ``std`` for the MLP).
    """
    trial = best_trial(study_name, storage_url)
    checkpoints = CheckpointStore(storage.artifact_dir_for(storage_url) / study_name)
    model, info = model_from_checkpoint(checkpoints.load(trial))
    info["trial_number"] = trial.number
    return model, info


def evaluate_best_on_test(
    study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL
) -> dict[str, Any]:
    """Score the best trial's model on the held-back test split, once.

    The result is stored in the study (user attribute ``test_results``, by trial number) and
    returned from there on later calls, so the test split is never used to choose.
    """
    study = open_study(study_name, storage_url)
    trial = best_trial(study_name, storage_url)
    results = dict(study.user_attrs.get(TEST_RESULTS_ATTR, {}))
    key = str(trial.number)
    if key in results:
        return {**results[key], "cached": True}
    config = stored_config(study)
    model, info = load_best_model(study_name, storage_url)
    task = load_task(config)
    test = task.view(task.test, task.resolve(info["params"]))
    metrics = evaluate(model, test, metrics=task.new_metrics(test))
    per_type = metrics.pop("per_type_f1", None)
    entry = {"trial": trial.number, "n_test": len(task.test), **metrics}
    if per_type is not None:
        entry["per_type_f1"] = per_type
    results[key] = entry
    study.set_user_attr(TEST_RESULTS_ATTR, results)
    return {**entry, "cached": False}


def study_status(study_name: str, storage_url: str = storage.DEFAULT_STORAGE_URL) -> dict[str, Any]:
    """Counts by state, the budget and the best value so far."""
    study = open_study(study_name, storage_url)
    counts = count_states(study)
    config = study.user_attrs.get(CONFIG_ATTR, {})
    best: Any = None
    if counts["COMPLETE"]:
        if len(study.directions) > 1:
            best = [list(t.values) for t in study.best_trials]
        else:
            best = study.best_value
    return {
        "study": study_name,
        "directions": _directions(study),
        "metric": config.get("metric"),
        "budget": config.get("n_trials"),
        "counts": {k: v for k, v in counts.items() if v},
        "best_value": best,
    }


__all__ = [
    "RunSummary",
    "best_trial",
    "create_study",
    "evaluate_best_on_test",
    "load_best_model",
    "open_study",
    "run_study",
    "stored_config",
    "study_status",
    "worker_config",
]
