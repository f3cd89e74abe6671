"""Studies, search spaces, workers, the ``hpsearch`` CLI and the Python API.

Example:
    >>> import search
    >>> trial = search.best_trial("demo", "sqlite:///hpsearch.db")
    >>> model, info = search.load_best_model("demo", "sqlite:///hpsearch.db")
"""

from __future__ import annotations

from search._config import StudyConfig, TaskConfig, build_config, default_space, load_config
from search._import_csv import ImportResult, import_csv
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
from search._report_html import make_report
from search._space import Parameter, SearchSpace
from search._study import (
    RunSummary,
    best_trial,
    create_study,
    evaluate_best_on_test,
    load_best_model,
    open_study,
    run_study,
    stored_config,
    study_status,
)
from search._trials import trials_table
from search._worker import StopFlag, WorkerResult, run_trials
from search.errors import USER_ERRORS, ConfigError, HpsearchError, StudyError

__all__ = [
    "CostQuality",
    "ImportResult",
    "ReportData",
    "build_report_data",
    "cost_quality",
    "family_comparison",
    "import_csv",
    "make_report",
    "marginal_effect_ranges",
    "marginal_effects",
    "non_dominated",
    "param_importances",
    "summarize_study",
    "trials_table",
    "USER_ERRORS",
    "ConfigError",
    "HpsearchError",
    "Parameter",
    "RunSummary",
    "SearchSpace",
    "StopFlag",
    "StudyConfig",
    "StudyError",
    "TaskConfig",
    "WorkerResult",
    "best_trial",
    "build_config",
    "create_study",
    "default_space",
    "evaluate_best_on_test",
    "load_best_model",
    "load_config",
    "open_study",
    "run_study",
    "run_trials",
    "stored_config",
    "study_status",
]
