"""PyTorch training wrapped as Optuna objectives: data, models, tasks and the training loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage._lazy import lazy_getattr

# The public names are imported on first use (PEP 562): ``objectives.errors`` (which the CLI's
# error path needs) must not pay for torch. The imports below are what type checkers see.
if TYPE_CHECKING:
    from objectives._checkpoint import (
        encode_features,
        encode_sentences,
        encode_texts,
        model_from_checkpoint,
    )
    from objectives._graphs import (
        GRAPH_MODES,
        CudaGraphSteps,
        GraphMode,
        check_graph_mode,
        graphs_unavailable,
    )
    from objectives._mlp import MLPClassifier, MLPConfig
    from objectives._models import (
        ClassifierConfig,
        EncoderConfig,
        RecurrentEncoder,
        SequenceClassifier,
        count_parameters,
    )
    from objectives._objective import (
        COST_METRICS,
        ClassificationObjective,
        ObjectiveSettings,
        TaskObjective,
        build_classifier,
        objective_values,
    )
    from objectives._schedules import ScheduleConfig
    from objectives._tagger_model import CharEncoderConfig, SequenceTagger, TaggerConfig
    from objectives._training import classification_metrics, evaluate, predict
    from objectives.data import (
        BUILTIN_DATASETS,
        TEXT_FORMATS,
        ClassificationData,
        SequenceSplit,
        SplitSettings,
        TabularData,
        TaggingData,
        load_classification_data,
        load_tabular_builtin,
        load_tabular_csv,
        load_tagging_data,
        tokenize,
    )
    from objectives.errors import (
        INTERRUPTED_REASON,
        ObjectiveError,
        TrialDiverged,
        TrialInterrupted,
    )
    from objectives.tasks import (
        BUILTIN_TASKS,
        CLASSIFICATION_PARAMETERS,
        ENTRY_POINT_GROUP,
        MLP_MAX_LAYERS,
        PARAMETER_CHOICES,
        Task,
        TaskConfig,
        load_reference,
        make_task,
        task_class,
        task_reference,
    )

_LAZY: dict[str, str] = {
    "encode_features": "objectives._checkpoint",
    "encode_sentences": "objectives._checkpoint",
    "encode_texts": "objectives._checkpoint",
    "model_from_checkpoint": "objectives._checkpoint",
    "GRAPH_MODES": "objectives._graphs",
    "CudaGraphSteps": "objectives._graphs",
    "GraphMode": "objectives._graphs",
    "check_graph_mode": "objectives._graphs",
    "graphs_unavailable": "objectives._graphs",
    "CharEncoderConfig": "objectives._tagger_model",
    "ClassifierConfig": "objectives._models",
    "EncoderConfig": "objectives._models",
    "MLPClassifier": "objectives._mlp",
    "MLPConfig": "objectives._mlp",
    "RecurrentEncoder": "objectives._models",
    "SequenceClassifier": "objectives._models",
    "SequenceTagger": "objectives._tagger_model",
    "TaggerConfig": "objectives._tagger_model",
    "count_parameters": "objectives._models",
    "COST_METRICS": "objectives._objective",
    "ClassificationObjective": "objectives._objective",
    "ObjectiveSettings": "objectives._objective",
    "TaskObjective": "objectives._objective",
    "build_classifier": "objectives._objective",
    "objective_values": "objectives._objective",
    "ScheduleConfig": "objectives._schedules",
    "classification_metrics": "objectives._training",
    "evaluate": "objectives._training",
    "predict": "objectives._training",
    "BUILTIN_DATASETS": "objectives.data",
    "TEXT_FORMATS": "objectives.data",
    "ClassificationData": "objectives.data",
    "SequenceSplit": "objectives.data",
    "SplitSettings": "objectives.data",
    "TabularData": "objectives.data",
    "TaggingData": "objectives.data",
    "load_classification_data": "objectives.data",
    "load_tabular_builtin": "objectives.data",
    "load_tabular_csv": "objectives.data",
    "load_tagging_data": "objectives.data",
    "tokenize": "objectives.data",
    "INTERRUPTED_REASON": "objectives.errors",
    "ObjectiveError": "objectives.errors",
    "TrialDiverged": "objectives.errors",
    "TrialInterrupted": "objectives.errors",
    "BUILTIN_TASKS": "objectives.tasks",
    "CLASSIFICATION_PARAMETERS": "objectives.tasks",
    "ENTRY_POINT_GROUP": "objectives.tasks",
    "MLP_MAX_LAYERS": "objectives.tasks",
    "PARAMETER_CHOICES": "objectives.tasks",
    "Task": "objectives.tasks",
    "TaskConfig": "objectives.tasks",
    "load_reference": "objectives.tasks",
    "make_task": "objectives.tasks",
    "task_class": "objectives.tasks",
    "task_reference": "objectives.tasks",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_TASKS",
    "CLASSIFICATION_PARAMETERS",
    "COST_METRICS",
    "ENTRY_POINT_GROUP",
    "GRAPH_MODES",
    "INTERRUPTED_REASON",
    "MLP_MAX_LAYERS",
    "PARAMETER_CHOICES",
    "TEXT_FORMATS",
    "CharEncoderConfig",
    "ClassificationData",
    "ClassificationObjective",
    "ClassifierConfig",
    "CudaGraphSteps",
    "EncoderConfig",
    "GraphMode",
    "MLPClassifier",
    "MLPConfig",
    "ObjectiveError",
    "ObjectiveSettings",
    "RecurrentEncoder",
    "ScheduleConfig",
    "SequenceClassifier",
    "SequenceSplit",
    "SequenceTagger",
    "SplitSettings",
    "TabularData",
    "TaggerConfig",
    "TaggingData",
    "Task",
    "TaskConfig",
    "TaskObjective",
    "TrialDiverged",
    "TrialInterrupted",
    "build_classifier",
    "check_graph_mode",
    "classification_metrics",
    "count_parameters",
    "encode_features",
    "encode_sentences",
    "encode_texts",
    "evaluate",
    "graphs_unavailable",
    "load_classification_data",
    "load_reference",
    "load_tabular_builtin",
    "load_tabular_csv",
    "load_tagging_data",
    "make_task",
    "model_from_checkpoint",
    "objective_values",
    "predict",
    "task_class",
    "task_reference",
    "tokenize",
]
