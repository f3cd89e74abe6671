"""Finding a task class by name: built-ins, installed entry points, or ``module:Class``."""

from __future__ import annotations

import importlib
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path

from objectives.errors import ObjectiveError
from objectives.tasks._base import Task
from objectives.tasks.classification import ClassificationTask
from objectives.tasks.tabular import TabularTask
from objectives.tasks.tagging import NerTask, PosTask

BUILTIN_TASKS: dict[str, type[Task]] = {
    task.name: task for task in (ClassificationTask, NerTask, PosTask, TabularTask)
}
"""The tasks shipped with hpsearch, by name."""

ENTRY_POINT_GROUP = "hpsearch.tasks"
"""Installed packages register their tasks here: ``textcnn = "mypkg.text_cnn:TextCNNTask"``."""

_REQUIRED = ("name", "metrics", "parameters", "checkpoint_kind")


def task_class(reference: str) -> type[Task]:
    """The task class a config's ``[task] name`` refers to.

    Args:
        reference: A built-in name, an ``hpsearch.tasks`` entry point name, or
            ``module:Class`` (the module is imported from the installed packages or the
            current folder, as ``python -m`` would).

    Raises:
        ObjectiveError: One line naming what is missing: the task, the module, the class, or
            the part of the interface the class lacks.
    """
    if reference in BUILTIN_TASKS:
        return BUILTIN_TASKS[reference]
    if ":" not in reference:
        found = entry_points(group=ENTRY_POINT_GROUP, name=reference)
        if not found:
            installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            raise ObjectiveError(
                f"task {reference!r} is not known; accepted: {', '.join(BUILTIN_TASKS)}"
                f"{''.join(', ' + name for name in installed)}, or module:Class of your own"
            )
        reference = next(iter(found)).value
    return check_task_class(load_reference(reference, "task"), reference)


def load_reference(reference: str, what: str) -> object:
    """The object ``module:attribute`` names (``module.sub:Outer.Inner`` works too).

    Raises:
        ObjectiveError: The module cannot be imported or has no such attribute.
    """
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ObjectiveError(f"{what} {reference!r} must look like module:name")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.append(cwd)  # a module next to the config, as `python -m` finds it
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ObjectiveError(
            f"{what} {reference!r}: module {module_name!r} cannot be imported ({exc})"
        ) from None
    value: object = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ObjectiveError(f"{what} {reference!r}: {module_name!r} has no {attribute!r}")
        value = getattr(value, part)
    return value


def check_task_class(value: object, reference: str) -> type[Task]:
    """``value`` if it is a complete :class:`Task` subclass, else one line saying what lacks."""
    if not (inspect.isclass(value) and issubclass(value, Task)):
        raise ObjectiveError(
            f"task {reference!r} is {value!r}, not a subclass of objectives.tasks.Task"
        )
    lacking = [name for name in _REQUIRED if not hasattr(value, name)]
    lacking += sorted(getattr(value, "__abstractmethods__", ()))
    if lacking:
        raise ObjectiveError(
            f"task {reference!r} does not implement the task interface: it lacks "
            f"{', '.join(lacking)}"
        )
    return value


def task_reference(task: Task | type[Task]) -> str:
    """What to store so :func:`task_class` finds this task again (name or module:Class)."""
    cls = task if isinstance(task, type) else type(task)
    if BUILTIN_TASKS.get(cls.name) is cls:
        return cls.name
    return f"{cls.__module__}:{cls.__qualname__}"


def make_task(reference: str, data: object) -> Task:
    """The task ``reference`` names over already loaded ``data`` (built-in tasks take it).

    Raises:
        ObjectiveError: An unknown task, or data of another task's kind.
    """
    return task_class(reference)(data)  # type: ignore[call-arg]
