"""Counting the transactions a study's database commits that wrote something."""

from __future__ import annotations

import re

import optuna
import sqlalchemy

_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def write_transactions(study: optuna.Study) -> list[set[str]]:
    """A list that grows by one for each committed transaction that wrote a row: the
    tables it wrote to.

    Reads commit too (Optuna's sessions end with a commit, and samplers read the study's
    trials), so a plain commit count would mix them in.
    """
    engine = study._storage._backend.engine
    tables: dict[int, set[str]] = {}
    commits: list[set[str]] = []

    def executing(connection, cursor, statement, *args) -> None:
        if written := _WRITE.match(statement):
            tables.setdefault(id(connection), set()).add(written.group(1).lower())

    def committed(connection) -> None:
        if id(connection) in tables:
            commits.append(tables.pop(id(connection)))

    sqlalchemy.event.listen(engine, "before_cursor_execute", executing)
    sqlalchemy.event.listen(engine, "commit", committed)
    sqlalchemy.event.listen(engine, "rollback", lambda connection: tables.pop(id(connection), 0))
    return commits


def param_writes(commits: list[set[str]]) -> int:
    """How many of ``commits`` wrote to ``trial_params``."""
    return sum("trial_params" in tables for tables in commits)
