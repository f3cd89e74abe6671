"""Shipped preset configs and the layers a command builds a config from.

Layers, later winning: defaults < preset < config file < command-line overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from objectives import (
    TaskConfig,
)
from search._config import build_config, read_config_file
from search._study_config import StudyConfig
from search.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
"""Preset study configs shipped with the package (copy one to start your own)."""


def preset_names() -> list[str]:
    """Names of the shipped presets (``imdb``, ``ner_uk``, ...)."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The TOML file of preset ``name``, to read or copy.

    Raises:
        ConfigError: No preset has that name (the message lists them).
    """
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"preset {name!r} is not known; accepted: {', '.join(preset_names())}")
    return path


def load_config(
    path: str | Path | None = None, *, preset: str | None = None, **overrides: Any
) -> StudyConfig:
    """Read a preset and/or a config file (optional) and apply overrides.

    Layers, later winning: defaults < preset < config file < overrides (``None`` ignored);
    see :func:`config_layers` for the arguments.
    """
    return build_config(*config_layers(path, preset=preset, **overrides))


def config_layers(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    stored: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """What the user gave, as layers for :func:`build_config`: preset < file < overrides.

    Only what was given is in them (no defaults), so a stored study config can go under
    them and keep every setting the user left out.

    Args:
        path: A ``.toml``/``.yaml``/``.json`` file, or ``None``.
        preset: A shipped preset name (see :func:`preset_names`), or ``None``.
        overrides: Top-level keys (``study``, ``storage``, ``n_trials``, ``folds``, ...) and,
            for the task, ``task``/``data``/``text_column``/``label_column``/``test_data``/
            ``validation_data``/``tag_column``/``data_format``/``vectors``.

        stored: The config of the study being resumed (it supplies the data a preset needs).

    Returns:
        The layers, in order.

    Raises:
        ConfigError: A bad file, a preset without data, or a ``task`` the preset is not for.
    """
    preset_layer = read_config_file(preset_path(preset)) if preset is not None else {}
    base = read_config_file(path) if path is not None else {}
    task_overrides = {
        "name": overrides.pop("task", None),
        "data": overrides.pop("data", None),
        "text_column": overrides.pop("text_column", None),
        "label_column": overrides.pop("label_column", None),
        "test_data": overrides.pop("test_data", None),
        "validation_data": overrides.pop("validation_data", None),
        "tag_column": overrides.pop("tag_column", None),
        "format": overrides.pop("data_format", None),
        "vectors": overrides.pop("vectors", None),
    }
    flags = {k: v for k, v in overrides.items() if v is not None}
    task = {k: v for k, v in task_overrides.items() if v is not None}
    if isinstance(task.get("tag_column"), str) and task["tag_column"].isdigit():
        task["tag_column"] = int(task["tag_column"])
    if task:
        flags["task"] = task
    if preset is not None:
        _check_preset_task(preset, preset_layer, task.get("name"))
        preset_layer = _preset_format_as_default(preset_layer, base, flags)
        has_data = any(
            "data" in dict(layer.get("task", {}))
            for layer in (stored or {}, preset_layer, base, flags)
        )
        if not has_data:
            raise ConfigError(
                f"preset {preset!r} needs --data PATH; the formats it reads are described "
                f"at the top of {preset_path(preset)}"
            )
    return [preset_layer, base, flags]


def _preset_format_as_default(
    preset_layer: dict[str, Any], *user_layers: Mapping[str, Any]
) -> dict[str, Any]:
    """The preset without its ``format`` when the user brings data and names no format.

    A preset's format describes the release it was written for; a file of the user's own
    (``--preset ag_news --data mine.csv`` with ``text,label`` columns) is read in the layout
    detected from it (``auto``), and ``--format`` or a config file's format still wins.
    """
    user_tasks = [
        dict(task) for layer in user_layers if isinstance(task := layer.get("task"), Mapping)
    ]
    preset_task = dict(preset_layer.get("task", {}))
    if "format" not in preset_task or not any("data" in task for task in user_tasks):
        return preset_layer
    if any("format" in task for task in user_tasks):
        return preset_layer
    preset_task.pop("format")
    return {**preset_layer, "task": preset_task}


def _check_preset_task(preset: str, preset_layer: Mapping[str, Any], asked: str | None) -> None:
    """A preset's [task] settings (format, columns) are for its own task only."""
    own = dict(preset_layer.get("task", {})).get("name", TaskConfig().name)
    if asked is None or asked == own:
        return
    fitting = [
        name
        for name in preset_names()
        if dict(read_config_file(preset_path(name)).get("task", {})).get("name") == asked
    ]
    raise ConfigError(
        f"preset {preset!r} is for task {own!r}, but --task is {asked!r}; presets for "
        f"{asked!r}: {', '.join(fitting) or 'none'} (or leave --preset out)"
    )
