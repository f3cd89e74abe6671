"""PyTorch training wrapped as Optuna objectives: data, models and the training loop."""

from __future__ import annotations

from objectives._checkpoint import encode_texts, model_from_checkpoint
from objectives._data import (
    BUILTIN_DATASETS,
    ClassificationData,
    SequenceSplit,
    load_classification_data,
    tokenize,
)
from objectives._models import (
    ClassifierConfig,
    EncoderConfig,
    RecurrentEncoder,
    SequenceClassifier,
    count_parameters,
)
from objectives._objective import (
    CLASSIFICATION_PARAMETERS,
    COST_METRICS,
    OBJECTIVE_VALUES,
    PARAMETER_CHOICES,
    VALIDATION_METRICS,
    ClassificationObjective,
    ObjectiveSettings,
    build_classifier,
)
from objectives._training import classification_metrics, evaluate, predict
from objectives.errors import ObjectiveError, TrialDiverged, TrialInterrupted

__all__ = [
    "BUILTIN_DATASETS",
    "CLASSIFICATION_PARAMETERS",
    "COST_METRICS",
    "OBJECTIVE_VALUES",
    "PARAMETER_CHOICES",
    "VALIDATION_METRICS",
    "ClassificationData",
    "ClassificationObjective",
    "ClassifierConfig",
    "EncoderConfig",
    "ObjectiveError",
    "ObjectiveSettings",
    "RecurrentEncoder",
    "SequenceClassifier",
    "SequenceSplit",
    "TrialDiverged",
    "TrialInterrupted",
    "build_classifier",
    "classification_metrics",
    "count_parameters",
    "encode_texts",
    "evaluate",
    "load_classification_data",
    "model_from_checkpoint",
    "predict",
    "tokenize",
]
