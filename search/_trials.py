"""The trials of a study as one flat table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from search.errors import HpsearchError

_ATTRS = (
    "number",
    "state",
    "value",
    "datetime_start",
    "datetime_complete",
    "duration",
    "params",
    "user_attrs",
)


def _flatten_cell(value: Any, prefix: str) -> dict[str, Any]:
    """Spread a dict into ``prefix.key`` columns; lists become JSON text, one cell each."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten_cell(inner, f"{prefix}.{key}"))
        return flat
    if isinstance(value, (list, tuple)):
        return {prefix: json.dumps(value, default=str)}
    return {prefix: value}


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """Optuna's ``trials_dataframe`` with nested user attributes flattened.

    Dict-valued user attributes become one ``user_attrs_<name>.<key>`` column per key;
    list-valued ones (e.g. ``val_history``) become JSON text, so every cell is a scalar and
    the table can be written as CSV and read back.

    Args:
        study: The study.

    Returns:
        One row per trial, ordered by trial number.
    """
    frame = study.trials_dataframe(attrs=_ATTRS, multi_index=False)
    if frame.empty:
        return frame
    nested = [
        column
        for column in frame.columns
        if column.startswith("user_attrs_")
        and frame[column].map(lambda v: isinstance(v, (dict, list, tuple))).any()
    ]
    for column in nested:
        spread = pd.DataFrame(
            [_flatten_cell(value, column) for value in frame[column]], index=frame.index
        )
        position = frame.columns.get_loc(column)
        frame = frame.drop(columns=column)
        for offset, new_column in enumerate(spread.columns):
            frame.insert(position + offset, new_column, spread[new_column])
    return frame.sort_values("number").reset_index(drop=True)


def readable_view(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`trials_table` a person reads in a terminal.

    Number, state, value(s), seconds, epochs trained and the hyperparameters (without their
    ``params_`` prefix); the dates, the attributes and the per-epoch histories stay in the
    full table (``hpsearch trials --csv``).
    """
    columns: dict[str, Any] = {"number": table["number"], "state": table["state"]}
    for column in table.columns:
        if column.startswith("value"):
            columns[column.removeprefix("values_").removeprefix("value_")] = table[column]
    if "duration" in table:
        columns["seconds"] = table["duration"].dt.total_seconds().round(1)
    if "user_attrs_epochs_run" in table:
        columns["epochs"] = table["user_attrs_epochs_run"].astype("Int64")
    for column in table.columns:
        if column.startswith("params_"):
            columns[column.removeprefix("params_")] = table[column]
    return pd.DataFrame(columns)


def format_readable(table: pd.DataFrame) -> str:
    """:func:`readable_view` as terminal text: each number to 4 significant digits on its
    own (``0.02307``, not padded to the longest in its column), ``-`` where a trial has no
    value (a parameter it did not draw)."""
    return readable_view(table).to_string(
        index=False, na_rep="-", float_format=lambda value: f"{value:.4g}"
    )


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` to ``path``; a missing or unwritable folder is one clear error.

    The folder is not created: a mistyped path should not leave new folders behind.

    Raises:
        HpsearchError: The folder does not exist or cannot be written.
    """
    folder = path.expanduser().resolve().parent
    if not folder.is_dir():
        raise HpsearchError(
            f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist; create it first"
        )
    try:
        table.to_csv(path, index=False)
    except OSError as exc:
        raise HpsearchError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
