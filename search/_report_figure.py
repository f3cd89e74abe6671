"""The figure type every report chart is, and the grid layout the multi-panel ones share."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

#: Panels per row of a grid figure: 3 panels of ~380 px fill the report's 1200-px column
#: and still leave room for tick labels; a 12-parameter study becomes 4 rows, not 1 row
#: 3,600 px wide.
GRID_COLUMNS = 3

#: Height of one grid row, in plotly pixels and matplotlib inches.
ROW_PIXELS = 300
ROW_INCHES = 3.3
COLUMN_INCHES = 4.3

COMPLETE_COLOR = "#1f77b4"
PRUNED_COLOR = "#aaaaaa"
FRONT_COLOR = "#d62728"
CHOSEN_COLOR = "#2ca02c"
BASELINE_COLOR = "#d62728"


@dataclass
class Figure:
    """One chart: an interactive plotly figure and a matplotlib drawing for its PNG.

    Attributes:
        name: File-name stem of the PNG and id of the HTML div.
        section: The report section it belongs to.
        plotly: The interactive figure.
        draw_png: Draws the same chart with matplotlib and returns the figure.
        height: Height of the HTML div in pixels.
        caption: A sentence shown above the chart (what it uses, how to read it).
    """

    name: str
    section: str
    plotly: go.Figure
    draw_png: Callable[[], Any]
    height: int = 500
    caption: str = ""


def grid_shape(n_panels: int, columns: int = GRID_COLUMNS) -> tuple[int, int]:
    """``(rows, cols)`` of a grid holding ``n_panels`` panels at most ``columns`` per row."""
    cols = max(1, min(columns, n_panels))
    return math.ceil(n_panels / cols), cols


def grid_height(rows: int) -> int:
    """HTML height of a grid figure with ``rows`` rows: the rows plus title and legend."""
    return ROW_PIXELS * rows + 140


def matplotlib_grid(rows: int, cols: int, n_panels: int) -> tuple[Any, list[Any]]:
    """A matplotlib figure with a ``rows x cols`` grid; unused cells are hidden.

    Returns:
        ``(figure, axes)`` with one axes per panel, in reading order.
    """
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(
        rows, cols, figsize=(COLUMN_INCHES * cols, ROW_INCHES * rows + 0.8), squeeze=False
    )
    axes = list(grid.ravel())
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return figure, axes[:n_panels]
