"""Reading what a search wrote: experiments, trials, their tables, the report, the study.

Imports storage and pyarrow, never Ray or torch, so ``hpsearch list`` and
``hpsearch best`` start at once and work on any machine that can read the
results (a laptop, a CI job, a bucket). The file names and trial states that
writer and reader share are in :mod:`hpsearch.experiments._layout`.
"""

from hpsearch.experiments._experiment import (
    EXPERIMENT_STATES,
    Experiment,
    TrialRecord,
    Unreadable,
    driver_gone,
    list_experiments,
    load_experiment,
    now_iso,
    scan_experiments,
)
from hpsearch.experiments._layout import (
    CHECKPOINT_PREFIX,
    FINAL_STATES,
    INTERNAL_KEYS,
    OPTUNA_KEY,
    RESULT_FILE,
    SEARCH_FILE,
    STATUS_FILE,
    STOPPED_EARLY,
    SUMMARY_FILE,
    TRIAL_PREFIX,
    TRIAL_STATES,
    exit_code,
    hyperparameters,
    is_usable,
    last_error_line,
    trial_state,
)
from hpsearch.experiments._report import write_report
from hpsearch.experiments._study import build_study
from hpsearch.experiments._tables import TABLE_FORMATS, check_table_path, trials_table, write_table

__all__ = [
    "CHECKPOINT_PREFIX",
    "EXPERIMENT_STATES",
    "FINAL_STATES",
    "INTERNAL_KEYS",
    "OPTUNA_KEY",
    "RESULT_FILE",
    "SEARCH_FILE",
    "STATUS_FILE",
    "STOPPED_EARLY",
    "SUMMARY_FILE",
    "TABLE_FORMATS",
    "TRIAL_PREFIX",
    "TRIAL_STATES",
    "Experiment",
    "TrialRecord",
    "Unreadable",
    "build_study",
    "check_table_path",
    "driver_gone",
    "exit_code",
    "hyperparameters",
    "is_usable",
    "last_error_line",
    "list_experiments",
    "load_experiment",
    "now_iso",
    "scan_experiments",
    "trial_state",
    "trials_table",
    "write_report",
    "write_table",
]
