"""Which layout a classification file has, read from its name and its first line.

``auto`` (the default format, and what a preset's format falls back to when the user
brings a file of their own) must read every layout :data:`TEXT_FORMATS` names without being
told, so a wrong guess about the file is never the user's problem to debug.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path
from typing import Literal, get_args

TextFormat = Literal["auto", "table", "trec", "ag_news"]
"""File layouts of classification data: ``auto`` detects the other three from the file."""

TEXT_FORMATS: tuple[str, ...] = get_args(TextFormat)
"""The :data:`TextFormat` names; the config accepts exactly these (checked there, once)."""

# `COARSE:fine question`, e.g. "DESC:manner How did serfdom develop in ... ?"
_TREC_LINE = re.compile(r"^[A-Z]+:[A-Za-z]+\s+\S")
_AG_NEWS_CLASSES = {"1", "2", "3", "4"}


def format_hint() -> str:
    """How to name a format, for the end of a message about a file of another layout."""
    return f"pass --format (accepted: {', '.join(TEXT_FORMATS)}; auto detects the layout)"


def detect_text_format(
    path: Path, text_column: str = "text", label_column: str = "label"
) -> TextFormat:
    """The layout of ``path``: ``trec``, ``ag_news`` or ``table``.

    ``*.label`` files and ``COARSE:fine text`` lines are TREC; a headerless row of three
    fields whose first is a class 1..4 is the AG News release; anything else is a table
    (whose reader names a missing column). A first line that names the text or label column
    is a table's header whatever else it looks like.
    """
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".label"):
        return "trec"
    first = _first_line(path)
    if first is None:
        return "table"
    delimiter = "\t" if "\t" in first or name.endswith(".tsv") else ","
    fields = next(csv.reader([first], delimiter=delimiter), [])
    if text_column in fields or label_column in fields:
        return "table"
    if _TREC_LINE.match(first):
        return "trec"
    if len(fields) == 3 and fields[0].strip() in _AG_NEWS_CLASSES:
        return "ag_news"
    return "table"


def _first_line(path: Path) -> str | None:
    """The first non-empty line (``None`` for an empty or unreadable file: its reader says why)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="latin-1") as handle:
            for line in handle:
                if line.strip():
                    return line.rstrip("\r\n")
    except (OSError, EOFError):
        return None
    return None
