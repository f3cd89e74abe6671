"""Studies, the ``hpsearch`` command line, and study reports."""

from __future__ import annotations

from search._report import (
    CostQuality,
    ReportData,
    build_report_data,
    cost_quality,
    family_comparison,
    marginal_effect_ranges,
    marginal_effects,
    non_dominated,
    param_importances,
    summarize_study,
)

__all__ = [
    "CostQuality",
    "ReportData",
    "build_report_data",
    "cost_quality",
    "family_comparison",
    "marginal_effect_ranges",
    "marginal_effects",
    "non_dominated",
    "param_importances",
    "summarize_study",
]
