"""Studies, search spaces, workers, the ``hpsearch`` CLI and the Python API.

Example:
    >>> import search
    >>> trial = search.best_trial("demo", "sqlite:///hpsearch.db")
    >>> model, info = search.load_best_model("demo", "sqlite:///hpsearch.db")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storage._lazy import lazy_getattr

# The public names are imported on first use (PEP 562), so `hpsearch --help` and a usage
# error do not pay for torch, scikit-learn, pandas and plotly. The imports below are what
# type checkers and readers see; _LAZY says which module each name comes from.
if TYPE_CHECKING:
    from search._config import StudyConfig, TaskConfig, build_config, default_space
    from search._confirm import Confirmation, confirm_best
    from search._evaluate import evaluate_trials
    from search._import_csv import ImportResult, import_csv
    from search._plain import run
    from search._predict import predict_file
    from search._presets import load_config
    from search._report import (
        CostQuality,
        ReportData,
        ReportOptions,
        build_report_data,
        cost_quality,
        family_comparison,
        non_dominated,
        summarize_study,
    )
    from search._report_effects import (
        marginal_effect_ranges,
        marginal_effects,
        param_importances,
    )
    from search._report_html import make_report
    from search._results import (
        best_trial,
        evaluate_best_on_test,
        load_best_checkpoint,
        load_best_model,
        study_status,
    )
    from search._run_summary import RunSummary
    from search._space import Parameter, SearchSpace
    from search._study import (
        create_study,
        open_study,
        run_study,
        stored_config,
    )
    from search._trials import trials_table
    from search._worker import StopFlag, WorkerResult, run_trials
    from search.errors import USER_ERRORS, ConfigError, HpsearchError, StudyError

__all__ = [
    "Confirmation",
    "confirm_best",
    "CostQuality",
    "ImportResult",
    "ReportData",
    "ReportOptions",
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
    "evaluate_trials",
    "load_best_checkpoint",
    "load_best_model",
    "load_config",
    "open_study",
    "predict_file",
    "run",
    "run_study",
    "run_trials",
    "stored_config",
    "study_status",
]


_LAZY: dict[str, str] = {
    "Confirmation": "search._confirm",
    "confirm_best": "search._confirm",
    "StudyConfig": "search._config",
    "TaskConfig": "search._config",
    "build_config": "search._config",
    "default_space": "search._config",
    "load_config": "search._presets",
    "ImportResult": "search._import_csv",
    "import_csv": "search._import_csv",
    "CostQuality": "search._report",
    "ReportData": "search._report",
    "build_report_data": "search._report",
    "cost_quality": "search._report",
    "family_comparison": "search._report",
    "ReportOptions": "search._report",
    "marginal_effect_ranges": "search._report_effects",
    "marginal_effects": "search._report_effects",
    "non_dominated": "search._report",
    "param_importances": "search._report_effects",
    "summarize_study": "search._report",
    "make_report": "search._report_html",
    "predict_file": "search._predict",
    "run": "search._plain",
    "Parameter": "search._space",
    "SearchSpace": "search._space",
    "RunSummary": "search._run_summary",
    "best_trial": "search._results",
    "create_study": "search._study",
    "evaluate_best_on_test": "search._results",
    "evaluate_trials": "search._evaluate",
    "load_best_checkpoint": "search._results",
    "load_best_model": "search._results",
    "open_study": "search._study",
    "run_study": "search._study",
    "stored_config": "search._study",
    "study_status": "search._results",
    "trials_table": "search._trials",
    "StopFlag": "search._worker",
    "WorkerResult": "search._worker",
    "run_trials": "search._worker",
    "USER_ERRORS": "search.errors",
    "ConfigError": "search.errors",
    "HpsearchError": "search.errors",
    "StudyError": "search.errors",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
