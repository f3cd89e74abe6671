"""Tasks: one class per kind of problem, and how a study finds one by name.

Example:
    >>> from objectives.tasks import task_class
    >>> task_class("ner").metrics[0]
    'f1'
"""

from __future__ import annotations

from objectives.tasks._base import (
    PARAMETER_CHOICES,
    TRAINING_PARAMETERS,
    Task,
    TaskConfig,
    field_defaults,
    optimizer_config,
    schedule_config,
)
from objectives.tasks._labels import LabelPerInput, softmax_of
from objectives.tasks._registry import (
    BUILTIN_TASKS,
    ENTRY_POINT_GROUP,
    check_task_class,
    load_reference,
    make_task,
    task_class,
    task_reference,
)
from objectives.tasks._spaces import encoder_space, optimizer_space, schedule_space
from objectives.tasks.classification import CLASSIFICATION_PARAMETERS, ClassificationTask
from objectives.tasks.tabular import MLP_MAX_LAYERS, TABULAR_PARAMETERS, TabularTask
from objectives.tasks.tagging import TAGGING_PARAMETERS, NerTask, PosTask, TaggingTask

__all__ = [
    "BUILTIN_TASKS",
    "CLASSIFICATION_PARAMETERS",
    "ENTRY_POINT_GROUP",
    "MLP_MAX_LAYERS",
    "PARAMETER_CHOICES",
    "TABULAR_PARAMETERS",
    "TAGGING_PARAMETERS",
    "TRAINING_PARAMETERS",
    "ClassificationTask",
    "LabelPerInput",
    "NerTask",
    "PosTask",
    "TabularTask",
    "TaggingTask",
    "Task",
    "TaskConfig",
    "check_task_class",
    "encoder_space",
    "field_defaults",
    "load_reference",
    "make_task",
    "optimizer_config",
    "optimizer_space",
    "schedule_config",
    "schedule_space",
    "softmax_of",
    "task_class",
    "task_reference",
]
