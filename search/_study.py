"""Studies: create or resume one from a config and run it (``search._results`` reads the
results back)."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import random
from collections.abc import Callable
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
)
from search._checkpoints import CheckpointStore
from search._config import StudyConfig, build_config
from search._derived import DERIVED_ATTR, fit_to_study
from search._distinct import DistinctProposals, study_sampler
from search._interrupts import quiet_interruptions
from search._plain import keeping_checkpoints, load_objective
from search._presets import config_layers
from search._progress import StudyProgress
from search._reference import BASELINE_ATTR, KNOWN_GOOD_ATTR, is_reference_trial
from search._resume import (
    CONFIG_ATTR,
    check_changes,
    direction_error,
    forget_stored_password,
    name_metrics,
    record_changes,
    resolve_config,
    store_new_config,
)
from search._run_summary import RunSummary, summarize
from search._slurm_runs import SlurmRun
from search._worker import (
    CARRIED_ATTRS,
    StopFlag,
    TrialOutOfMemory,
    guard_out_of_memory,
    run_trials,
)
from search.errors import ConfigError, StudyError

logger = logging.getLogger("hpsearch")

TEST_RESULTS_ATTR = "test_results"
# Study attribute of a confirmation study (`hpsearch best --confirm`): the study whose best
# trials it repeats with other seeds. Its workers run its queued trials only.
CONFIRM_OF_ATTR = "confirm_of"


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
    """Load an existing study, with a clear error listing the studies that do exist.

    A missing SQLite or journal file is reported, not created.
    """
    missing = StudyError(
        f"study {study_name!r} does not exist in {storage.redact_url(storage_url)}; "
        "existing studies: "
    )
    if not storage.storage_exists(storage_url):
        raise StudyError(f"{missing}none")
    backend = storage.open_storage(storage_url)
    try:
        return optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(backend)]
        raise StudyError(f"{missing}{', '.join(names) or 'none'}") from None


def directions_of(study: optuna.Study) -> list[str]:
    """The study's directions as a config writes them: ``["maximize", ...]``."""
    return [d.name.lower() for d in study.directions]


def create_study(
    config: StudyConfig,
    backend: optuna.storages.BaseStorage | None = None,
    *,
    enqueue_baseline: bool = False,
    update_config: bool = False,
    derived_space: dict[str, Any] | None = None,
):
    """Create the study a config describes, or resume it if it exists with the same settings.

    The resolved config is stored in the study's user attributes (so workers and reports can
    read it), and so are ``metric``/``metric_names`` and ``max_epochs``; the metric names
    are also Optuna's own (``study.metric_names``), so optuna-dashboard shows them.

    Args:
        config: A validated config.
        backend: An open storage for ``config.storage`` (opened here when ``None``).
        enqueue_baseline: Also queue the config's ``[baseline]`` as a trial to run next
            (user attribute ``baseline``), then each ``[[known_good]]`` configuration in
            order (user attribute ``known_good``: its index); an identical queued or
            finished one is not added again.
        update_config: The study exists with other settings: store ``config`` and record
            the change (see :mod:`search._resume`) instead of refusing.
        derived_space: What fitted ``config``'s space to the data, stored (as
            :data:`~search._derived.DERIVED_ATTR`) when the study is new.

    Raises:
        ConfigError: ``enqueue_baseline`` without a ``[baseline]`` or ``[[known_good]]``;
            nothing is created.
        StudyError: The study exists with other directions or (without ``update_config``)
            other settings; nothing stored is changed.
    """
    if enqueue_baseline and not (config.baseline or config.known_good):
        raise ConfigError(
            "--enqueue-baseline needs a [baseline] table in the config (each --preset has one) "
            "or [[known_good]] entries"
        )
    backend = backend or storage.open_storage(config.storage)
    sampler, pruner = study_sampler(config), config.build_pruner()
    try:
        study = optuna.load_study(
            study_name=config.study, storage=backend, sampler=sampler, pruner=pruner
        )
    except KeyError:
        study = optuna.create_study(
            study_name=config.study,
            storage=backend,
            sampler=sampler,
            pruner=pruner,
            directions=config.direction,  # type: ignore[arg-type]  # validated in build_config
            load_if_exists=True,  # another worker may create it at the same moment
        )
    if directions_of(study) != config.direction:
        raise direction_error(config.study, directions_of(study), config.direction)
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        store_new_config(study, config)
        if derived_space:
            study.set_user_attr(DERIVED_ATTR, derived_space)
    else:
        stored = forget_stored_password(study, stored)
        name_metrics(study, config)
        next_trial = len(study.get_trials(deepcopy=False))
        changes = check_changes(
            config.study, stored, config, update_config=update_config, next_trial=next_trial
        )
        if changes:
            record_changes(study, config, changes)
    if enqueue_baseline:
        # What people already knew runs first: the hand-tuned baseline, then the
        # configurations known to do well, in the config's order (the queue is FIFO).
        if config.baseline:
            study.enqueue_trial(
                config.baseline_params(), user_attrs={BASELINE_ATTR: True}, skip_if_exists=True
            )
        for index, params in enumerate(config.known_good_params()):
            study.enqueue_trial(params, user_attrs={KNOWN_GOOD_ATTR: index}, skip_if_exists=True)
    return study


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
    create: bool = False,
    update_config: bool = False,
    opener: storage.StorageOpener | None = None,
    **overrides: Any,
) -> StudyConfig:
    """The config a worker runs: the study's stored one < a config file < ``overrides``.

    For a new study the file (or the defaults) alone. ``overrides`` (``n_trials``,
    ``timeout``, ``device``, ...) that change a study setting need ``update_config``.
    ``opener`` is the command's: the run reuses the storage opened here.

    Raises:
        StudyError: The study does not exist and neither ``config_path`` nor ``create``
            says to make it (a mistyped name must not start a new study).
    """
    layers = config_layers(config_path, study=study_name, storage=storage_url, **overrides)
    opener = opener or storage.StorageOpener()
    if config_path is None and not create:
        _require_study(study_name, storage_url, opener)
    return resolve_config(layers, update_config=update_config, opener=opener)


def _require_study(study_name: str, storage_url: str, opener: storage.StorageOpener) -> None:
    """Raise :class:`StudyError` naming the studies there when ``study_name`` is not one."""
    where = storage.mask_password(storage_url)
    if not opener.exists(storage_url):
        raise StudyError(
            f"study {study_name!r} does not exist in {where} (no such file); "
            "pass --create or --config to create it"
        )
    backend = opener(storage_url)
    names_there = [s.study_name for s in optuna.get_all_study_summaries(backend)]
    if study_name not in names_there:
        raise StudyError(
            f"study {study_name!r} does not exist in {where}; existing studies: "
            f"{', '.join(names_there) or 'none'}; pass --create or --config to create it"
        )


def load_task(config: StudyConfig, data: Any = None) -> Task:
    """The config's task over its data, read now (once per process) unless ``data`` is given.

    Args:
        config: A validated config.
        data: A task already loaded (returned as it is), or a built-in task's loaded data.

    Raises:
        ObjectiveError: The data is missing, unreadable, or of another task's kind.
    """
    if isinstance(data, Task):
        return data
    if data is not None:
        return config.task_class(data)  # type: ignore[call-arg]
    return config.task_class.load(config.task, config.task.split(config.seed))


def run_study(
    config: StudyConfig,
    *,
    progress: bool = True,
    stop: StopFlag | None = None,
    data: Any = None,
    enqueue_baseline_trial: bool = False,
    heartbeat_interval: int | None = None,
    update_config: bool = False,
    opener: storage.StorageOpener | None = None,
) -> RunSummary:
    """Create or resume ``config``'s study and run trials until its budget is reached.

    Args:
        config: A validated config.
        progress: Show progress on standard error: a bar over trials with the running
            trial's epoch and metric on a terminal, else one line per epoch and per trial.
        stop: Stop flag; once set, the trial in progress ends at its next epoch boundary
            and is re-queued. This function installs no signal handler: an entry point
            that wants SIGTERM/SIGINT to stop it wraps the call in
            :func:`search._worker.stop_on_signals` with the same flag.
        data: A preloaded task or its data (loaded from the config when ``None``).
        enqueue_baseline_trial: Run the config's ``[baseline]`` first (once per study).
        heartbeat_interval: Seconds between heartbeats of the running trial; a trial whose
            worker dies is failed after three intervals and its parameters re-queued.
            ``None`` turns heartbeats off (one process alone needs none). Ignored when
            ``opener`` is given: the heartbeat is a setting of the storage it opened.
        update_config: Store ``config`` over an existing study's other settings (and
            record the change) instead of refusing.
        opener: The command's storage opener, which may hold the storage open already
            (from reading the stored config); a new one when ``None``.

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
        early_stopping=config.early_stopping,
        cuda_graphs=config.cuda_graphs,
        stop_requested=stop,
        runs_to_end=is_reference_trial,
    )
    # Data first: a bad data setting must fail before the stored study is touched (or a
    # new SQLite file is created).
    task = load_task(config, data) if config.objective is None else None
    opener = opener or storage.StorageOpener(
        heartbeat_interval=heartbeat_interval, carried_attrs=CARRIED_ATTRS
    )
    derived: dict[str, Any] = {}
    if task is not None:  # the dimensions the config leaves to the default follow the data
        config, derived = fit_to_study(config, opener, task=task)
    backend = opener(config.storage)
    # torch.optim imports torch._dynamo on an optimizer's first add_param_group (seconds on
    # a small CPU); pay that here, before the first trial, so trial 0's time is training.
    importlib.import_module("torch._dynamo")
    study = create_study(
        config,
        backend,
        enqueue_baseline=enqueue_baseline_trial,
        update_config=update_config,
        derived_space=derived,
    )
    checkpoints = CheckpointStore(
        storage.artifact_dir_for(config.storage) / config.study, keep=config.keep_checkpoints
    )
    bar = StudyProgress(study, config.n_trials, config.metric[0], enabled=progress)
    objective: Callable[[optuna.Trial], Any]
    distinct: DistinctProposals | None = None
    if task is None:  # a plain Optuna objective (search.run): it may return a checkpoint
        objective = keeping_checkpoints(load_objective(config.objective or ""), checkpoints.save)
    else:
        space = config.search_space()
        settings = dataclasses.replace(settings, on_epoch=bar.epoch)
        objective = TaskObjective(task, space.suggest, settings, save_checkpoint=checkpoints.upload)
        distinct = DistinctProposals.for_space(space, config.seed)

    def keep_best(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            checkpoints.prune(study)

    with bar.showing(), quiet_interruptions():
        result = run_trials(
            study,
            guard_out_of_memory(objective),
            n_trials=config.n_trials,
            timeout=config.timeout,
            stop=stop,
            catch=(TrialDiverged, TrialInterrupted, TrialOutOfMemory),
            callbacks=[keep_best, bar],
            distinct=distinct,
            queued_only=CONFIRM_OF_ATTR in study.user_attrs,
            slurm_run=SlurmRun.from_environment(),
        )
    return summarize(study, result, config.n_trials)


__all__ = [
    "RunSummary",
    "create_study",
    "open_study",
    "run_study",
    "stored_config",
    "worker_config",
]
