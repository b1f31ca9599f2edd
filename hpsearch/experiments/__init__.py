"""Reading what a search wrote: experiments, trials, their tables, the report, the study.

Imports storage and pyarrow, never Ray or torch, so ``hpsearch list`` and
``hpsearch best`` start at once and work on any machine that can read the
results (a laptop, a CI job, a bucket). The file names and trial states that
writer and reader share are in :mod:`hpsearch.experiments._layout`. Optuna
loads only when a study is read (:func:`open_study`) or served
(:func:`serve_dashboard`).
"""

from typing import TYPE_CHECKING

from hpsearch.experiments._experiment import (
    EXPERIMENT_STATES,
    Experiment,
    TrialRecord,
    Unreadable,
    driver_gone,
    list_experiments,
    load_experiment,
    now_iso,
    read_trials,
    scan_experiments,
)
from hpsearch.experiments._layout import (
    CHECKPOINT_NAME,
    CHECKPOINT_PREFIX,
    FINAL_STATES,
    INTERNAL_KEYS,
    MEMBER_PREFIX,
    OPTUNA_KEY,
    PACK_FILE,
    PACK_KEY,
    RESULT_FILE,
    SEARCH_FILE,
    STATUS_FILE,
    STOPPED_EARLY,
    STUDY_FILE,
    SUMMARY_FILE,
    TRIAL_PREFIX,
    TRIAL_STATES,
    WARM_START,
    ensemble_line,
    exit_code,
    hyperparameters,
    is_usable,
    last_error_line,
    median_line,
    trial_state,
)
from hpsearch.experiments._report import write_report
from hpsearch.experiments._study import build_study, open_study
from hpsearch.experiments._tables import TABLE_FORMATS, check_table_path, trials_table, write_table
from hpsearch.lazy import exports

if TYPE_CHECKING:
    from hpsearch.experiments._dashboard import DashboardServer, ReadOnlyJournal, serve_dashboard

__all__ = [
    "CHECKPOINT_NAME",
    "CHECKPOINT_PREFIX",
    "EXPERIMENT_STATES",
    "FINAL_STATES",
    "INTERNAL_KEYS",
    "MEMBER_PREFIX",
    "OPTUNA_KEY",
    "PACK_FILE",
    "PACK_KEY",
    "RESULT_FILE",
    "SEARCH_FILE",
    "STATUS_FILE",
    "STOPPED_EARLY",
    "STUDY_FILE",
    "SUMMARY_FILE",
    "TABLE_FORMATS",
    "TRIAL_PREFIX",
    "TRIAL_STATES",
    "WARM_START",
    "DashboardServer",
    "Experiment",
    "ReadOnlyJournal",
    "TrialRecord",
    "Unreadable",
    "build_study",
    "check_table_path",
    "driver_gone",
    "ensemble_line",
    "exit_code",
    "hyperparameters",
    "is_usable",
    "last_error_line",
    "list_experiments",
    "load_experiment",
    "median_line",
    "now_iso",
    "open_study",
    "read_trials",
    "scan_experiments",
    "serve_dashboard",
    "trial_state",
    "trials_table",
    "write_report",
    "write_table",
]

# The dashboard's module imports Optuna (its journal backend): on first use only.
__getattr__ = exports(
    __name__,
    {
        "DashboardServer": "._dashboard",
        "ReadOnlyJournal": "._dashboard",
        "serve_dashboard": "._dashboard",
    },
)
