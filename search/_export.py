"""``hpsearch best --export FILE``: the best trial as a config that retrains it exactly.

The exported config is the study's stored config with every hyperparameter fixed to the
best trial's value, one trial, no pruning and no ``[baseline]``: ``hpsearch run --config
FILE`` then trains the same model on the same data split with the same seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search._config import build_config
from search._results import best_trial
from search._resume import CONFIG_ATTR, config_at_trial, resumable
from search._study import open_study
from search.errors import HpsearchError, StudyError

# Settings of the machine or the run, not of the model: the retraining picks its own (and
# the queued baseline and known-good trials would not fit a space with every value fixed).
_LEFT_OUT = ("storage", "device", "cuda_graphs", "timeout", "baseline", "known_good")


def best_config(study_name: str, storage_url: str) -> dict[str, Any]:
    """The study's config with the search space fixed to its best trial's parameters.

    Parameters the best trial did not use (a condition was off) are fixed to the value the
    objective takes when they are absent, so no default of the task's space comes back as
    a searched dimension.

    Raises:
        StudyError: The study is missing, was not made by hpsearch, or has no best trial.
    """
    study = open_study(study_name, storage_url)
    trial = best_trial(study_name, storage_url)
    if study.user_attrs.get(CONFIG_ATTR) is None:
        raise StudyError(f"study {study_name!r} was not created by hpsearch (no stored config)")
    # The settings the best trial ran under: a later --update-config (epochs, ...) is undone.
    config = build_config(resumable(config_at_trial(study, trial.number)))
    defaults = config.task_class.parameters
    space: dict[str, Any] = {}
    used: dict[str, Any] = {}  # what the best trial had, to judge later conditions by
    for parameter in config.search_space().parameters:
        if parameter.active(used):
            value = parameter.value if parameter.kind == "fixed" else trial.params[parameter.name]
            space[parameter.name] = used[parameter.name] = value
        elif defaults.get(parameter.name) is not None:
            space[parameter.name] = defaults[parameter.name]
    exported = {k: v for k, v in config.to_dict().items() if k not in _LEFT_OUT}
    exported.update(
        study=f"{study_name}-best{trial.number}",
        n_trials=1,
        sampler={"name": "random"},  # nothing is left to sample
        pruner={"name": "nop"},  # the retraining runs every epoch, as the best trial did
        space=space,
    )
    return exported


def export_best_config(study_name: str, storage_url: str, path: Path) -> int:
    """Write :func:`best_config` to ``path`` (.toml, .yaml/.yml or .json); returns the trial.

    Raises:
        HpsearchError: The file has another extension or its folder does not exist.
    """
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise HpsearchError(
            f"--export {str(path)!r} has extension {suffix!r}; accepted: .toml, .yaml, .yml, .json"
        )
    if not path.expanduser().resolve().parent.is_dir():
        raise HpsearchError(f"cannot write {str(path)!r}: its folder does not exist")
    config = best_config(study_name, storage_url)
    number = best_trial(study_name, storage_url).number
    header = (
        f"Best trial #{number} of study {study_name!r}, every hyperparameter fixed.\n"
        f"Retrain it with: hpsearch run --config {path.name}"
    )
    if suffix == ".toml":
        text = "".join(f"# {line}\n" for line in header.splitlines()) + to_toml(config)
    elif suffix == ".json":
        text = json.dumps(config, indent=2) + "\n"
    else:
        import yaml

        comment = "".join(f"# {line}\n" for line in header.splitlines())
        text = comment + yaml.safe_dump(config, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return number


def to_toml(config: Mapping[str, Any]) -> str:
    """A config dict as TOML: top-level values, then one ``[table]`` per nested dict.

    ``None`` means "not set" in a config, and TOML has no null, so such keys are left out.
    """
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(
            f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None
        )
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest text that reads back as the same float
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{" + inner + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as TOML")
