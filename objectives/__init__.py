"""PyTorch training wrapped as Optuna objectives: data, models, tasks and the training loop."""

from __future__ import annotations

from objectives._checkpoint import encode_sentences, encode_texts, model_from_checkpoint
from objectives._data import (
    BUILTIN_DATASETS,
    TEXT_FORMATS,
    ClassificationData,
    SequenceSplit,
    load_classification_data,
    tokenize,
)
from objectives._graphs import GRAPH_MODES, CudaGraphSteps, GraphMode, graphs_unavailable
from objectives._models import (
    CharEncoderConfig,
    ClassifierConfig,
    EncoderConfig,
    MLPClassifier,
    MLPConfig,
    RecurrentEncoder,
    SequenceClassifier,
    SequenceTagger,
    TaggerConfig,
    count_parameters,
)
from objectives._objective import (
    COST_METRICS,
    OBJECTIVE_VALUES,
    VALIDATION_METRICS,
    ClassificationObjective,
    ObjectiveSettings,
    TaskObjective,
    build_classifier,
    objective_values,
)
from objectives._schedules import ScheduleConfig
from objectives._tabular import TabularData, load_tabular_builtin, load_tabular_csv
from objectives._tagging_data import TaggingData, load_tagging_data
from objectives._tasks import (
    CLASSIFICATION_PARAMETERS,
    MLP_MAX_LAYERS,
    PARAMETER_CHOICES,
    TASK_METRICS,
    TASK_PARAMETERS,
    TASKS,
    Task,
    make_task,
)
from objectives._training import classification_metrics, evaluate, predict
from objectives.errors import ObjectiveError, TrialDiverged, TrialInterrupted

__all__ = [
    "BUILTIN_DATASETS",
    "CLASSIFICATION_PARAMETERS",
    "COST_METRICS",
    "GRAPH_MODES",
    "MLP_MAX_LAYERS",
    "OBJECTIVE_VALUES",
    "PARAMETER_CHOICES",
    "TASKS",
    "TASK_METRICS",
    "TASK_PARAMETERS",
    "TEXT_FORMATS",
    "VALIDATION_METRICS",
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
    "TabularData",
    "TaggerConfig",
    "TaggingData",
    "Task",
    "TaskObjective",
    "TrialDiverged",
    "TrialInterrupted",
    "build_classifier",
    "classification_metrics",
    "count_parameters",
    "encode_sentences",
    "encode_texts",
    "evaluate",
    "graphs_unavailable",
    "load_classification_data",
    "load_tabular_builtin",
    "load_tabular_csv",
    "load_tagging_data",
    "make_task",
    "model_from_checkpoint",
    "objective_values",
    "predict",
    "tokenize",
]
