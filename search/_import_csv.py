"""Turn the results table of an old manual sweep into COMPLETE trials of a study.

Each CSV row becomes one trial. Parameter distributions are inferred from the columns;
durations become ``train_seconds`` so cost-vs-quality works on imported studies. A hash of
each row's contents is stored on its trial, so importing the same file again adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

import storage
from search.errors import ConfigError, StudyError

#: A positive numeric column whose largest value is at least this many times its smallest
#: spans two decades or more and gets a log-scale distribution (learning rates, weight decay).
LOG_SCALE_RATIO = 100.0

#: Columns that are results of a run, not settings of it, when ``param_columns`` is not given:
#: metrics, losses, timings, epochs, and the fold/seed/repeat index of a repeated run.
_RESULT_COLUMN = re.compile(
    r"(?:^|[_\W])(acc|accuracy|loss|f1|precision|recall|score|auc|error|perplexity|duration|"
    r"seconds|time|epochs?|fold|seed|repeat|run)(?:$|[_\W\d])",
    re.IGNORECASE,
)
_DURATION_COLUMN = re.compile(r"(?:^|[_\W])(duration|seconds|time)(?:$|[_\W])", re.IGNORECASE)
_BOOLEAN_TEXT = {"true": True, "false": False}
_DIRECTIONS = ("maximize", "minimize")


@dataclass
class ImportResult:
    """What an import did.

    Attributes:
        added: Trials created.
        already_present: Rows skipped because an earlier import created them.
        missing_value: Rows skipped because the value column is empty.
        params: Columns imported as parameters.
        user_attrs: Columns kept as user attributes.
    """

    added: int
    already_present: int
    missing_value: int
    params: list[str]
    user_attrs: list[str]


def _is_text(column: pd.Series) -> bool:
    # pandas 3 reads text as its string dtype, older pandas as object.
    return column.dtype == object or pd.api.types.is_string_dtype(column)


def _as_booleans(column: pd.Series) -> pd.Series | None:
    if column.dtype == bool:
        return column
    if _is_text(column):
        lowered = column.dropna().map(lambda v: str(v).strip().lower())
        if len(lowered) and lowered.isin(_BOOLEAN_TEXT).all():
            return column.map(
                lambda v: _BOOLEAN_TEXT[str(v).strip().lower()] if pd.notna(v) else None
            )
    return None


def _as_seconds(column: pd.Series) -> pd.Series | None:
    """Durations such as ``0 days 00:04:50.368217`` as seconds, or ``None`` if not durations."""
    if not _is_text(column):
        return None
    try:
        return pd.to_timedelta(column).dt.total_seconds()
    except (ValueError, TypeError):
        return None


def infer_distribution(column: pd.Series) -> BaseDistribution:
    """The distribution a sweep column's values were drawn from.

    Args:
        column: The column's non-missing values (booleans already converted).

    Returns:
        ``CategoricalDistribution`` for strings and booleans; ``IntDistribution`` for
        integers and ``FloatDistribution`` for other numbers, both log-scale when positive
        values span :data:`LOG_SCALE_RATIO` or more.
    """
    values = column.dropna()
    if values.dtype == bool or values.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return CategoricalDistribution([False, True])
    if not pd.api.types.is_numeric_dtype(values):
        return CategoricalDistribution(sorted({str(v) for v in values}))
    low, high = float(values.min()), float(values.max())
    log = low > 0 and high / low >= LOG_SCALE_RATIO
    if np.all(np.equal(np.mod(values, 1), 0)):
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(low, high, log=log)


def _param_value(value: Any, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return bool(value) if distribution.choices == (False, True) else str(value)
    if isinstance(distribution, IntDistribution):
        return int(value)
    return float(value)


def _attr_value(value: Any) -> Any:
    # Storage serializes user attributes as JSON: numpy scalars must become Python ones.
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _row_keys(frame: pd.DataFrame) -> list[str]:
    """A key per row from its contents; the n-th copy of an identical row gets its own key."""
    seen: Counter[str] = Counter()
    keys = []
    for record in frame.astype(str).to_dict(orient="records"):
        content = json.dumps(record, sort_keys=True)
        seen[content] += 1
        keys.append(hashlib.sha256(f"{content}#{seen[content]}".encode()).hexdigest()[:20])
    return keys


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"CSV file {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"CSV file {str(path)!r} cannot be read as CSV: {exc}") from None
    # Old sweeps wrote the DataFrame index as an unnamed first column; it is not a setting.
    return frame.loc[:, ~frame.columns.str.startswith("Unnamed:")]


def _choose_params(
    frame: pd.DataFrame, value_column: str, param_columns: list[str] | None
) -> list[str]:
    if param_columns is not None:
        unknown = [c for c in param_columns if c not in frame.columns]
        if unknown:
            raise ConfigError(
                f"--param-columns names {', '.join(map(repr, unknown))}, not in the CSV; "
                f"its columns are: {', '.join(frame.columns)}"
            )
        if value_column in param_columns:
            raise ConfigError(f"--param-columns includes the value column {value_column!r}")
        return param_columns
    return [c for c in frame.columns if c != value_column and not _RESULT_COLUMN.search(c)]


def import_csv(
    path: Path,
    study_name: str,
    storage_url: str,
    value_column: str,
    param_columns: list[str] | None = None,
    direction: str = "maximize",
) -> ImportResult:
    """Add one COMPLETE trial per CSV row to a study, creating the study if needed.

    Columns become parameters (``param_columns``, or by default every column that does not
    look like a result: metrics, losses, durations, epochs, fold or seed indices). Other
    columns are kept as user attributes: durations (``0 days 00:04:50`` or seconds in a
    ``*duration*``/``*time*``/``*seconds*`` column) as ``train_seconds``, the rest under
    their own names. Every trial gets ``source = "csv:<file name>"``.

    Args:
        path: The CSV file.
        study_name: Study to add the trials to.
        storage_url: Storage URL accepted by :func:`storage.open_storage`.
        value_column: Column holding the objective value.
        param_columns: Columns to import as parameters; inferred when ``None``.
        direction: ``maximize`` or ``minimize``; must match an existing study.

    Returns:
        What was added and skipped.

    Raises:
        ConfigError: The file, a column name or the direction is not accepted.
        StudyError: The study exists with another direction or other distributions.
    """
    if direction not in _DIRECTIONS:
        raise ConfigError(f"--direction {direction!r} is not accepted; use maximize or minimize")
    frame = _read_csv(path)
    if value_column not in frame.columns:
        raise ConfigError(
            f"--value-column {value_column!r} is not in {path.name}; "
            f"its columns are: {', '.join(frame.columns)}"
        )
    params = _choose_params(frame, value_column, param_columns)
    values = pd.to_numeric(frame[value_column], errors="coerce")
    keys = _row_keys(frame)

    converted: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column == value_column:
            continue
        series = frame[column]
        booleans = _as_booleans(series)
        seconds = _as_seconds(series) if booleans is None else None
        converted[column] = (
            booleans if booleans is not None else (seconds if seconds is not None else series)
        )
    distributions = {name: infer_distribution(converted[name]) for name in params}
    attr_columns = [c for c in converted if c not in params]
    duration_column = next(
        (
            c
            for c in attr_columns
            if _DURATION_COLUMN.search(c) and pd.api.types.is_numeric_dtype(converted[c])
        ),
        None,
    )

    study = optuna.create_study(
        study_name=study_name,
        storage=storage.open_storage(storage_url),
        direction=direction,  # type: ignore[arg-type]  # validated against DIRECTIONS above
        load_if_exists=True,
    )
    if len(study.directions) != 1 or study.direction.name.lower() != direction:
        existing = ", ".join(d.name.lower() for d in study.directions)
        raise StudyError(
            f"study {study_name!r} exists with direction {existing}; "
            f"pass --direction {existing} to import into it"
        )
    if "metric" not in study.user_attrs:
        study.set_user_attr("metric", value_column)
    known_keys = {t.user_attrs.get("import_key") for t in study.get_trials(deepcopy=False)} - {None}

    trials = []
    already_present = missing_value = 0
    for index, key in enumerate(keys):
        value = values.iloc[index]
        if not math.isfinite(value):
            missing_value += 1
            continue
        if key in known_keys:
            already_present += 1
            continue
        row_params = {
            name: _param_value(converted[name].iloc[index], distributions[name])
            for name in params
            if pd.notna(converted[name].iloc[index])
        }
        user_attrs: dict[str, Any] = {"source": f"csv:{path.name}", "import_key": key}
        for column in attr_columns:
            cell = _attr_value(converted[column].iloc[index])
            if cell is not None:
                user_attrs["train_seconds" if column == duration_column else column] = cell
        trials.append(
            optuna.trial.create_trial(
                params=row_params,
                distributions={name: distributions[name] for name in row_params},
                value=float(value),
                user_attrs=user_attrs,
            )
        )
    try:
        study.add_trials(trials)
    except ValueError as exc:
        # The storage refuses a parameter whose distribution differs from the one already
        # recorded for it in this study (e.g. other categorical choices).
        raise StudyError(
            f"cannot add {path.name} to study {study_name!r}: {exc}; "
            "import it into a new study or pass --param-columns"
        ) from None
    return ImportResult(
        added=len(trials),
        already_present=already_present,
        missing_value=missing_value,
        params=params,
        user_attrs=[f"{c} (as train_seconds)" if c == duration_column else c for c in attr_columns],
    )
