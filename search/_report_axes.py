"""Readable axis ticks for report figures, the same in plotly and matplotlib.

Left alone, matplotlib labels every minor tick of a short log axis ("3x10^1 4x10^1 6x10^1"
run together) and both libraries put half-epoch ticks on an integer axis. A log axis here
gets a few ticks at 1, 2 and 5 times a power of ten (only decades when the range is wide);
an integer axis gets whole-number ticks at a step of 1, 2 or 5 times a power of ten.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

#: No axis gets more ticks than this: beyond it labels of a 300-px panel touch.
MAX_TICKS = 6


def tick_label(value: float) -> str:
    """``0.001``, ``1e-05``, ``256``: the shortest exact-looking form."""
    return f"{value:g}"


def log_ticks(low: float, high: float, max_ticks: int = MAX_TICKS) -> list[float]:
    """A few ticks in ``[low, high]`` (both > 0) at 1, 2, 5 x 10^k, or decades when wide."""
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        return []
    low, high = min(low, high), max(low, high)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1, 2, 5), (1,)):
        ticks = [
            m * 10.0**k
            for k in range(first, last + 1)
            for m in mantissas
            if low * (1 - 1e-9) <= m * 10.0**k <= high * (1 + 1e-9)
        ]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) > max_ticks:
        ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
    if len(ticks) < 2:
        # Less than one 1-2-5 step in range (e.g. 30..60): three evenly spaced ticks,
        # rounded to two significant digits so the labels stay short.
        ticks = [float(f"{v:.2g}") for v in np.geomspace(low, high, 3)]
    return sorted(set(ticks))


def integer_ticks(low: float, high: float, max_ticks: int = MAX_TICKS + 2) -> list[int]:
    """Whole-number ticks in ``[low, high]`` at a step of 1, 2 or 5 x 10^k."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    low, high = min(low, high), max(low, high)
    span = max(high - low, 1.0)
    step = 1
    for magnitude in range(0, 12):
        for mantissa in (1, 2, 5):
            step = mantissa * 10**magnitude
            if span / step <= max_ticks:
                break
        else:
            continue
        break
    start = math.ceil(low / step) * step
    return list(range(int(start), int(math.floor(high)) + 1, step))


def ticks_for(
    distribution: BaseDistribution | None, low: float, high: float
) -> tuple[list[float], list[str]] | None:
    """Ticks and labels for an axis of a parameter, or ``None`` to leave the default."""
    log = isinstance(distribution, (FloatDistribution, IntDistribution)) and distribution.log
    if log:
        ticks = log_ticks(low, high)
        return ticks, [tick_label(t) for t in ticks]
    if isinstance(distribution, IntDistribution):
        int_ticks = integer_ticks(low, high)
        return [float(t) for t in int_ticks], [str(t) for t in int_ticks]
    return None


def plotly_ticks(ticks: tuple[list[float], list[str]] | None) -> dict[str, Any]:
    """Layout keys of a plotly axis that show exactly ``ticks``."""
    if not ticks:
        return {}
    return {"tickmode": "array", "tickvals": ticks[0], "ticktext": ticks[1]}


def set_matplotlib_ticks(axis: Any, ticks: tuple[list[float], list[str]] | None) -> None:
    """Show exactly ``ticks`` on a matplotlib ``XAxis``/``YAxis``, without minor labels."""
    if not ticks or not ticks[0]:
        return
    from matplotlib.ticker import NullFormatter, NullLocator

    axis.set_ticks(ticks[0], labels=ticks[1])
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def tidy_matplotlib_figure(figure: Any, distributions: dict[str, BaseDistribution]) -> None:
    """Readable ticks on every axis of ``figure`` that is labelled with a parameter name or
    has a log scale (Optuna's own matplotlib plots, e.g. contours)."""
    for ax in figure.axes:
        for axis, label, scale, limits in (
            (ax.xaxis, ax.get_xlabel(), ax.get_xscale(), ax.get_xlim()),
            (ax.yaxis, ax.get_ylabel(), ax.get_yscale(), ax.get_ylim()),
        ):
            distribution = distributions.get(label)
            ticks = ticks_for(distribution, *limits)
            if ticks is None and scale == "log":
                values = log_ticks(*limits)
                ticks = (values, [tick_label(v) for v in values])
            set_matplotlib_ticks(axis, ticks)


def tidy_plotly_figure(figure: Any, distributions: dict[str, BaseDistribution]) -> None:
    """Readable ticks on the axes of a plotly figure titled with a parameter name."""
    for key in list(figure.layout.to_plotly_json()):
        if not (key.startswith("xaxis") or key.startswith("yaxis")):
            continue
        axis = figure.layout[key]
        title = axis.title.text if axis.title else None
        distribution = distributions.get(title or "")
        if not isinstance(distribution, (FloatDistribution, IntDistribution)):
            continue
        ticks = ticks_for(distribution, distribution.low, distribution.high)
        axis.update(plotly_ticks(ticks))
