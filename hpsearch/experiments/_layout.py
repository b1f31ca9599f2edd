"""What an experiment directory holds, and how a trial's outcome is named.

Shared by the search (which writes) and inspection (which reads without
Ray), so both agree on file names, internal keys and trial states.

An experiment directory ``<storage root>/<name>/`` holds Tune's own files
plus ours:

- ``hpsearch.json``: written when the search starts: the validated config,
  the task, the metric, the fitted preprocessing, the driver's host and pid;
- ``status.json``: the driver's heartbeat while it runs (or its error);
- ``study.journal``: the search's Optuna study (params, per-epoch values, states);
- ``summary.json``: written when the search ends: the leaderboard, the
  best trial and the ensemble of the top trials scored once on the held-out
  test split, and which of the two is the final model;
- ``trial_<id>/``: Tune's ``params.json``, ``result.json`` (one JSON line per
  epoch), ``error.txt`` if the trial crashed, ``checkpoint_NNNNNN/state.pt``.

A *pack* is several Optuna trials (members) trained as one Tune trial: its
``params.json`` is ``{"pack": [member config, ...]}``; each ``result.json`` line
holds ``"members": {"<number>": {member metrics}}``; each checkpoint holds
``member_<number>/state.pt`` (a single trial's format) and ``pack.json``.
"""

from __future__ import annotations

import re
from typing import Any

from hpsearch.metrics import format_score

SEARCH_FILE = "hpsearch.json"
STATUS_FILE = "status.json"
SUMMARY_FILE = "summary.json"
#: The study of record: Optuna's journal (JSON lines), written by the driver only.
STUDY_FILE = "study.journal"
RESULT_FILE = "result.json"
PARAMS_FILE = "params.json"
ERROR_FILE = "error.txt"
TRIAL_PREFIX = "trial_"
CHECKPOINT_PREFIX = "checkpoint_"
#: A pack member's slice of a pack checkpoint: ``checkpoint_<n>/member_<number>/``.
MEMBER_PREFIX = "member_"
#: The ``params.json`` key of a pack: the list of its members' configs.
PACK_KEY = "pack"
#: In each pack checkpoint: every member's state and epoch as that checkpoint has it.
PACK_FILE = "pack.json"

#: A checkpoint inside its experiment, as a search names it (and the study of record
#: holds it): ``trial_<id>/checkpoint_<n>``, or a pack member's slice of one,
#: ``trial_<id>/checkpoint_<n>/member_<number>``; no "..", no other folder.
CHECKPOINT_NAME = re.compile(
    rf"{re.escape(TRIAL_PREFIX)}[A-Za-z0-9_]{{1,64}}/{re.escape(CHECKPOINT_PREFIX)}\d{{6}}"
    rf"(?:/{re.escape(MEMBER_PREFIX)}\d{{1,9}})?"
)
#: The user attribute marking a warm start's trial in a study (not the search's own).
WARM_START = "warm_start"

#: The config key holding Optuna's record of a trial (raw params, distributions).
OPTUNA_KEY = "optuna"
#: Config keys hpsearch adds to every trial that are not hyperparameters.
INTERNAL_KEYS = frozenset({"seed", "trial_number", "resume_from", OPTUNA_KEY})

#: A summary's ``ended`` for a search stopped before all its trials ran: why,
#: and the exit code (the shell's 128 + the signal's number).
STOPPED_EARLY = {
    "interrupted": ("stopped by the user (Ctrl-C)", 130),
    "terminated": ("stopped by SIGTERM", 143),
}

#: A trial that ended: how. ``running`` and ``interrupted`` are for trials that did not.
FINAL_STATES = ("completed", "stopped", "diverged", "errored")
TRIAL_STATES = (*FINAL_STATES, "running", "interrupted")


def hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config without the keys hpsearch adds."""
    return {k: v for k, v in config.items() if k not in INTERNAL_KEYS}


def trial_state(
    *, epochs: int, max_epochs: int, done: bool, diverged: bool, error: str | None, live: bool
) -> tuple[str, str]:
    """A trial's state and the reason, from what it last reported.

    ``live`` says whether the search that runs the trial is still running:
    an unfinished trial of a dead search was interrupted.
    """
    if error is not None:
        return "errored", error
    if diverged:
        return "diverged", f"non-finite training loss at epoch {epochs}"
    if epochs >= max_epochs:
        return "completed", ""
    if done:
        return "stopped", f"stopped early by the scheduler at epoch {epochs}"
    if live:
        return "running", f"at epoch {epochs}"
    return "interrupted", f"interrupted at epoch {epochs}"


def is_usable(state: str, best_value: float | None) -> bool:
    """Whether a trial can be the best: it reported a finite score and did not crash."""
    return best_value is not None and state != "errored"


def exit_code(summary: dict[str, Any]) -> int:
    """The exit code a command that ran a search ends with."""
    return STOPPED_EARLY.get(summary.get("ended", ""), ("", 0))[1]


def last_error_line(text: str) -> str:
    """The line of a traceback that says what went wrong, short enough to show."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "unknown error"


def ensemble_line(summary: dict[str, Any]) -> str | None:
    """The summary's ensemble against its best trial on the test split, in a line
    (the search's end and ``hpsearch best`` both show it); ``None`` for a summary
    from before ensembles, or without a best trial."""
    if "ensemble" not in summary or not summary.get("best"):
        return None
    ensemble = summary["ensemble"]
    if ensemble is None:
        return f"Ensemble: not built ({summary.get('ensemble_skipped') or 'no reason given'})"
    test = "test_" + str(summary["metric"]).removeprefix("val_")
    picks = ensemble["picks"]
    members = len(ensemble["members"])
    if members == 1 and not ensemble["adopted"]:
        return "Ensemble: no other trial improved on the best one (on the selection half)"
    verdict = "adopted" if ensemble["adopted"] else "not adopted"
    return (
        f"Ensemble of {members} trial{'s' if members != 1 else ''}, {len(picks)} "
        f"pick{'s' if len(picks) != 1 else ''} ({', '.join(map(str, picks))}): "
        f"{test} {format_score(ensemble['test'].get(test))} vs best single "
        f"{format_score(summary['best']['test'].get(test))} ({verdict}: {ensemble['reason']})"
    )


def median_line(summary: dict[str, Any]) -> str | None:
    """How much better the best trial is than the median usable one, on the search
    metric, in a line; ``None`` without both."""
    best, median = summary.get("best"), summary.get("median_value")
    metric = summary["metric"]
    if not best or median is None or best.get(metric) is None:
        return None
    return (
        f"best {metric} {format_score(best[metric])} vs median trial {format_score(median)} "
        f"({best[metric] - median:+.3g})"
    )
