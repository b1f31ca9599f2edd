"""Reading an experiment back from storage: its state, its trials, its best trial.

Works on a finished, a running and an interrupted search, local or on a
storage URI, with pyarrow alone: no Ray, no running cluster, no torch
(until a model is asked for).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hpsearch import storage
from hpsearch.config import default_storage
from hpsearch.errors import UserError
from hpsearch.experiments._layout import (
    CHECKPOINT_NAME,
    CHECKPOINT_PREFIX,
    ERROR_FILE,
    FINAL_STATES,
    MEMBER_PREFIX,
    OPTUNA_KEY,
    PACK_KEY,
    PARAMS_FILE,
    RESULT_FILE,
    SEARCH_FILE,
    STATUS_FILE,
    STOPPED_EARLY,
    SUMMARY_FILE,
    TRIAL_PREFIX,
    hyperparameters,
    is_usable,
    last_error_line,
    trial_state,
)
from hpsearch.experiments._report import write_report
from hpsearch.experiments._tables import trials_table
from hpsearch.metrics import best_score, metric_mode
from hpsearch.objectives import (
    Constraint,
    Goals,
    Objective,
    is_feasible,
    parse_constraints,
    parse_objectives,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: A search whose driver has not written its heartbeat for this long is taken as dead.
STALE_AFTER_S = 90.0
#: Experiment states ``hpsearch list`` shows.
EXPERIMENT_STATES = ("running", "finished", "interrupted", "errored")

# The config key of a trial that continues an earlier run's (its checkpoint): not a hyperparameter.
RESUME_KEY = "resume_from"

# Tune's bookkeeping in each result line; everything else (metrics, epoch,
# time_total_s, node_ip, hostname) is kept.
_TUNE_KEYS = frozenset(
    {
        "config",
        "checkpoint_dir_name",
        "should_checkpoint",
        "done",
        "training_iteration",
        "trial_id",
        "date",
        "time_this_iter_s",
        "pid",
        "time_since_restore",
        "iterations_since_restore",
    }
)
# The keys of a pack's result line that belong to each member's row, and their types
# (the rest is Tune's bookkeeping, or the pack's: its top-level metric, ``pack_size``).
_PACK_ROW_KEYS: dict[str, type | tuple[type, ...]] = {
    "timestamp": (int, float),
    "time_total_s": (int, float),
    "node_ip": str,
    "hostname": str,
}
# A member's bookkeeping in its entry of a pack's line: whether it leaves the pack, not a metric.
_LEFT = "left"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as storage has it: hyperparameters, per-epoch metrics, outcome.

    ``trial_id`` is the Tune id of its first run, stable across resumes; when that run
    was a pack (several trials as one Tune trial), ``<Tune id>.<number>``.
    """

    trial_id: str
    number: int
    params: dict[str, Any]
    optuna: dict[str, Any] | None
    history: tuple[dict[str, Any], ...]
    state: str
    reason: str
    checkpoint: str | None
    #: The Tune trials it ran as, in run order: a resumed search continues an
    #: unfinished trial as a new Tune trial under the same number.
    runs: tuple[str, ...] = ()
    #: Epochs trained as the study of record was told, where result files fell short.
    told_epochs: int = 0

    @property
    def epochs(self) -> int:
        """Epochs trained."""
        reported = int(self.history[-1].get("epoch", 0)) if self.history else 0
        return max(reported, self.told_epochs)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id the trial ran as: :attr:`trial_id` (a pack member's is
        ``<pack's Tune id>.<number>``), then each run's Tune id."""
        return (self.trial_id, *self.runs)

    @property
    def searched(self) -> dict[str, Any]:
        """The values Optuna chose (what the space searches), else every hyperparameter."""
        return dict(self.optuna["params"]) if self.optuna else dict(self.params)

    @property
    def node(self) -> str | None:
        """The address of the node the trial last ran on."""
        return self.history[-1].get("node_ip") if self.history else None

    @property
    def wall_time_s(self) -> float | None:
        """Seconds the trial trained (Tune's ``time_total_s``)."""
        return self.history[-1].get("time_total_s") if self.history else None

    def score(self, metric: str, mode: str | None = None) -> tuple[float | None, int]:
        """The trial's best finite value of ``metric`` over its epochs, and that epoch."""
        return best_score(self.history, metric, mode or metric_mode(metric))

    def at_epoch(self, epoch: int) -> dict[str, Any]:
        """The metrics reported at ``epoch`` (empty if none)."""
        return next((dict(r) for r in self.history if r.get("epoch") == epoch), {})


# "Failure # 2 (occurred at 2026-11-27_06-55-01)", Tune's header per failure.
_FAILURE = re.compile(r"Failure # \d+ \(occurred at ([0-9_-]+)\)")


def _read_lines(text: str | None) -> list[dict[str, Any]]:
    rows = []
    for line in (text or "").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            # Tune appends to result.json: a reader may meet a line being written.
            continue
        if isinstance(row, dict):  # result.json is data from storage: anything else is no report
            rows.append(row)
    return rows


def _latest_checkpoint(trial_dir: str) -> str | None:
    names = [n for n in storage.list_dirs(trial_dir) if n.startswith(CHECKPOINT_PREFIX)]
    return storage.join(trial_dir, max(names)) if names else None


def read_trial(location: str, name: str, max_epochs: int, live: bool) -> TrialRecord | None:
    """The directory ``name`` (``trial_<id>``) of the experiment at ``location``, one Tune
    run of a trial; ``None`` if it holds nothing yet.

    A pack's folder holds several trials: :class:`ValueError` (:func:`read_trials` reads
    each member as its own trial).
    """
    trial_dir = storage.join(location, name)
    lines = _read_lines(storage.read_text(storage.join(trial_dir, RESULT_FILE)))
    config = _read_config(trial_dir, lines)
    if config is None:
        return None
    if _is_pack(config):
        raise ValueError(
            f"{name} is a pack of trials, not one: read_trials reads each member as its own trial"
        )
    return _read_run(trial_dir, config, lines, max_epochs, live).record


@dataclass(frozen=True)
class _Run:
    """One trial as one ``trial_<id>`` folder left it (a pack's folder: one per member)."""

    record: TrialRecord
    continues: bool  # an earlier run's unfinished trial, continued from its checkpoint


def _read_config(trial_dir: str, lines: list[dict[str, Any]]) -> Any:
    """The folder's ``params.json``; cut short or missing, the config Tune puts on each line."""
    try:
        config = storage.read_json(storage.join(trial_dir, PARAMS_FILE))
    except ValueError:  # Tune writes params.json in place: a kill can leave it cut short
        config = None
    if config is None:
        config = lines[0].get("config") if lines else None
    return config


def _tune_id(trial_dir: str) -> str:
    """The Tune id of the folder ``trial_dir`` (a path or a URI: ``.../trial_<id>?options``)."""
    return trial_dir.partition("?")[0].rsplit("/", 1)[-1].removeprefix(TRIAL_PREFIX)


def _is_pack(config: Any) -> bool:
    return isinstance(config, dict) and PACK_KEY in config


def _read_runs(location: str, name: str, max_epochs: int, live: bool) -> list[_Run]:
    """The trials of the folder ``name``: one, a pack's members, or none yet."""
    trial_dir = storage.join(location, name)
    lines = _read_lines(storage.read_text(storage.join(trial_dir, RESULT_FILE)))
    config = _read_config(trial_dir, lines)
    if config is None:
        return []
    if _is_pack(config):
        return _read_pack(trial_dir, config[PACK_KEY], lines, max_epochs, live)
    return [_read_run(trial_dir, config, lines, max_epochs, live)]


def _failures(error: str | None, last: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The error a run ended on (``None``: none, or it recovered), and the dates of its
    failures. Tune appends to error.txt at every failure, also one it recovered from by
    restarting the trial from its checkpoint: a report after the last failure wins. (Tune's
    dates, not file times: on object storage a file's time is when it was uploaded.)"""
    if error is None:
        return None, []
    failures = _FAILURE.findall(error)
    if failures and str(last.get("date", "")) > max(failures):
        return None, failures
    return error, failures


def _with_restarts(reason: str, restarts: int) -> str:
    if not restarts:
        return reason
    note = f"restarted {restarts}x from its checkpoint after a failure"
    return f"{reason}; {note}" if reason else note


def _read_run(
    trial_dir: str, config: dict[str, Any], lines: list[dict[str, Any]], max_epochs: int, live: bool
) -> _Run:
    last = lines[-1] if lines else {}
    error, failures = _failures(storage.read_text(storage.join(trial_dir, ERROR_FILE)), last)
    # A trial resumed from a checkpoint reports again the epochs after it:
    # the latest report of each epoch is the one that counts.
    by_epoch = {
        line["epoch"]: {k: v for k, v in line.items() if k not in _TUNE_KEYS}
        for line in lines
        if "epoch" in line
    }
    history = tuple(by_epoch[e] for e in sorted(by_epoch))
    epochs = int(history[-1]["epoch"]) if history else 0
    state, reason = trial_state(
        epochs=epochs,
        max_epochs=max_epochs,
        done=bool(last.get("done")),
        diverged=bool(last.get("diverged")),
        error=None if error is None else last_error_line(error),
        live=live,
    )
    tune_id = _tune_id(trial_dir)
    record = TrialRecord(
        trial_id=tune_id,
        number=int(config.get("trial_number", -1)),
        params=hyperparameters(config),
        optuna=config.get(OPTUNA_KEY),
        history=history,
        state=state,
        reason=_with_restarts(reason, 0 if error else len(failures)),
        checkpoint=_latest_checkpoint(trial_dir),
        runs=(tune_id,),
    )
    return _Run(record, continues=bool(config.get(RESUME_KEY)))


def _read_pack(
    trial_dir: str, pack: Any, lines: list[dict[str, Any]], max_epochs: int, live: bool
) -> list[_Run]:
    """A pack's folder: one run per member, each an ordinary trial (see :class:`_Member`).

    The pack's files are data from storage: a member config that is not an object or has
    no number, a line whose ``members`` is not an object, an entry that is not an object
    or has no epoch are skipped; so are members that share a number (their entries could
    not be told apart).
    """
    configs = _member_configs(pack)
    steps = [line for line in lines if isinstance(line.get("members"), dict)]
    last = steps[-1] if steps else {}
    error, failures = _failures(storage.read_text(storage.join(trial_dir, ERROR_FILE)), last)
    members = {n: _Member(n, config) for n, config in configs.items()}
    for index, line in enumerate(steps):
        row = {
            k: line[k]
            for k, kind in _PACK_ROW_KEYS.items()
            if isinstance(line.get(k), kind) and not isinstance(line.get(k), bool)
        }
        for key, entry in line["members"].items():
            member = members.get(_as_number(key))
            if member is not None and isinstance(entry, dict) and _is_count(entry.get("epoch")):
                member.add(index, str(line.get("date", "")), entry, row)
    tune_id = _tune_id(trial_dir)
    checkpoints = _member_checkpoints(trial_dir, list(members))
    context = _PackContext(len(steps), bool(last.get("done")), error, failures, max_epochs, live)
    return [
        _Run(member.record(tune_id, checkpoints.get(n), context), member.continues)
        for n, member in sorted(members.items())
    ]


@dataclass(frozen=True)
class _PackContext:
    """What a pack's folder says of all its members: its lines, its end, its failures."""

    steps: int  # result lines with members
    done: bool  # the last line is Tune's last: the pack ended
    error: str | None  # the error the pack ended on
    failures: list[str]  # the dates of its failures (recovered ones too)
    max_epochs: int
    live: bool


@dataclass
class _Member:
    """One member of a pack as the pack's lines tell it: its rows by its own epoch (a later
    line's report of an epoch wins, as a restart reports epochs again), its last entry."""

    number: int
    config: dict[str, Any]
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    last_step: int = -1  # the index of the last line with an entry for it
    last_date: str = ""  # that line's date

    def add(self, step: int, date: str, entry: dict[str, Any], row: dict[str, Any]) -> None:
        """Its ``entry`` in line ``step``; ``row``: that line's keys that belong to a row."""
        own = {k: v for k, v in entry.items() if k != _LEFT and k not in _PACK_ROW_KEYS}
        self.rows[entry["epoch"]] = own | row
        self.last, self.last_step, self.last_date = entry, step, date

    @property
    def continues(self) -> bool:
        """An earlier run's unfinished trial, continued from its checkpoint."""
        return bool(self.config.get(RESUME_KEY))

    def record(self, tune_id: str, checkpoint: str | None, pack: _PackContext) -> TrialRecord:
        """The member as a trial: it ended when it left, when a later line of the pack had
        no entry for it (the scheduler stopped it), or when the pack did; the pack's error
        is its own only if it was still in the pack at its last line."""
        history = tuple(self.rows[e] for e in sorted(self.rows))
        epochs = int(history[-1]["epoch"]) if history else 0
        left = self.last_step >= 0 and (
            bool(self.last.get(_LEFT)) or self.last_step < pack.steps - 1
        )
        error = None if left else pack.error  # a later crash does not undo how it ended
        state, reason = trial_state(
            epochs=epochs,
            max_epochs=pack.max_epochs,
            done=left or pack.done,
            diverged=bool(self.last.get("diverged")),
            error=None if error is None else last_error_line(error),
            live=pack.live,
        )
        # The failures it trained through (the pack restarted it from its checkpoint).
        lived_through = 0 if error else sum(f < self.last_date for f in pack.failures)
        optuna = self.config.get(OPTUNA_KEY)
        if not (isinstance(optuna, dict) and isinstance(optuna.get("params"), dict)):
            optuna = None  # what TrialRecord.searched reads
        return TrialRecord(
            trial_id=f"{tune_id}.{self.number}",
            number=self.number,
            params=hyperparameters(self.config),
            optuna=optuna,
            history=history,
            state=state,
            reason=_with_restarts(reason, lived_through),
            checkpoint=checkpoint,
            runs=(tune_id,),
        )


def _is_count(value: Any) -> bool:
    """A non-negative int (JSON's ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _as_number(key: str) -> int:
    """A ``members`` key (``"<number>"``) as the trial number; -1 if it is not one."""
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 9 else -1


def _member_configs(pack: Any) -> dict[int, dict[str, Any]]:
    """A pack's member configs by trial number, without what is malformed or ambiguous."""
    if not isinstance(pack, list):
        return {}
    numbered = [c for c in pack if isinstance(c, dict) and _is_count(c.get("trial_number"))]
    counts: dict[int, int] = {}
    for config in numbered:
        counts[config["trial_number"]] = counts.get(config["trial_number"], 0) + 1
    return {c["trial_number"]: c for c in numbered if counts[c["trial_number"]] == 1}


def _member_checkpoints(trial_dir: str, numbers: list[int]) -> dict[int, str]:
    """Each member's newest slice among the pack's checkpoints: newest checkpoint first,
    stopping once every member has one (on object storage each listing is a request)."""
    names = sorted(
        (n for n in storage.list_dirs(trial_dir) if n.startswith(CHECKPOINT_PREFIX)),
        reverse=True,
    )
    found: dict[int, str] = {}
    for name in names:
        if len(found) == len(numbers):
            break
        slices = set(storage.list_dirs(storage.join(trial_dir, name)))
        for number in numbers:
            member = f"{MEMBER_PREFIX}{number}"
            if number not in found and member in slices:
                found[number] = storage.join(trial_dir, name, member)
    return found


def read_trials(location: str, max_epochs: int, live: bool = False) -> tuple[TrialRecord, ...]:
    """Every trial of the experiment at ``location``, sorted by number: one record per
    trial number, however many Tune runs it took (an earlier run's folder and the
    continuation's after a resume). ``live``: the search is still running.

    A pack's folder (several trials trained as one Tune trial) gives one run per member,
    merged with the other runs of its number like any run. Folders without a number
    (written before trials had one) are one trial each.
    """
    dirs = [d for d in storage.list_dirs(location) if d.startswith(TRIAL_PREFIX)]
    groups: dict[int | str, list[_Run]] = {}
    for name in dirs:
        for run in _read_runs(location, name, max_epochs, live):
            number = run.record.number
            groups.setdefault(number if number >= 0 else run.record.trial_id, []).append(run)
    return tuple(sorted((_merge(runs) for runs in groups.values()), key=lambda t: t.number))


def _run_order(run: _Run) -> tuple[int, float]:
    """When a run started: its first report's time. A folder with no report yet is an
    earlier run cut short before reporting (first), or a continuation starting (last)."""
    times = [
        r["timestamp"] for r in run.record.history if isinstance(r.get("timestamp"), int | float)
    ]
    if times:
        return 1, float(min(times))
    return (2, 0.0) if run.continues else (0, 0.0)


def _merge(runs: list[_Run]) -> TrialRecord:
    """One trial from the folders of its runs: the first run's id and parameters,
    every epoch (a later run's report of an epoch wins), the outcome of the last run
    that reported (or failed), the newest checkpoint of the last run that has one."""
    records = [r.record for r in sorted(runs, key=_run_order)]
    if len(records) == 1:
        return records[0]
    # A continuation that has reported nothing yet has not changed the trial's outcome.
    outcome = next((r for r in reversed(records) if r.history or r.state == "errored"), records[-1])
    return replace(
        records[0],
        history=_merged_history(records),
        state=outcome.state,
        reason=outcome.reason,
        checkpoint=next((r.checkpoint for r in reversed(records) if r.checkpoint), None),
        runs=tuple(run for r in records for run in r.runs),
    )


def _merged_history(records: list[TrialRecord]) -> tuple[dict[str, Any], ...]:
    """Rows by epoch, a later run's winning; each run's ``time_total_s`` counted from the
    end of the runs before it (Tune starts every run's clock at zero)."""
    by_epoch: dict[Any, dict[str, Any]] = {}
    before = 0.0
    for record in records:
        spent = 0.0
        for row in record.history:
            seconds = row.get("time_total_s")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                spent = max(spent, float(seconds))
                row = {**row, "time_total_s": before + seconds}
            by_epoch[row["epoch"]] = row
        before += spent
    return tuple(by_epoch[e] for e in sorted(by_epoch))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # kill(0 or -1, 0) would ask about a whole group of processes
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def now_iso() -> str:
    """The current UTC time, as the ISO 8601 text heartbeats and claims hold."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _age_s(timestamp: str | None) -> float:
    if not timestamp:
        return math.inf
    then = datetime.fromisoformat(timestamp)
    return (datetime.now(timezone.utc) - then).total_seconds()


def experiment_state(
    record: dict[str, Any], status: dict[str, Any] | None, summary: dict[str, Any] | None
) -> tuple[str, str]:
    """``running``, ``finished``, ``interrupted`` or ``errored``, and why.

    A search whose driver died without a word (SIGKILL, a reboot) is told
    apart from a running one by its heartbeat: a dead pid on this host, or
    no heartbeat for :data:`STALE_AFTER_S`.
    """
    if summary is not None:
        ended = summary.get("ended", "finished")
        if ended in STOPPED_EARLY:
            return "interrupted", STOPPED_EARLY[ended][0]
        return "finished", "time budget reached" if ended == "time_budget" else ""
    if status is not None and status.get("state") == "errored":
        return "errored", str(status.get("error", ""))
    gone = driver_gone(
        status or {**record.get("driver", {}), "updated_at": record.get("started_at")}
    )
    return ("interrupted", gone) if gone else ("running", "")


def driver_gone(beat: dict[str, Any]) -> str | None:
    """Why the driver that wrote ``beat`` (host, pid, ``updated_at``) is gone, or
    ``None`` while it may still be alive."""
    if beat.get("host") == socket.gethostname() and not _pid_alive(int(beat.get("pid", -1))):
        return f"its driver (pid {beat.get('pid')}) is gone"
    age = _age_s(beat.get("updated_at"))
    if age > STALE_AFTER_S:
        return f"no heartbeat from its driver for {age:.0f}s"
    return None


def resolve(exp: str, root: str | None = None) -> str:
    """An experiment's location from a name under the storage root, a path or a URI."""
    if "://" in exp:
        location = exp.rstrip("/")
    elif os.sep in exp or exp.startswith(".") or os.path.isdir(exp):
        location = os.path.abspath(os.path.expanduser(exp))
    else:
        location = storage.join(root or default_storage(), exp)
        if "://" not in location:
            location = os.path.abspath(os.path.expanduser(location))
    try:
        found = storage.exists(storage.join(location, SEARCH_FILE))
    except (OSError, ValueError) as exc:  # unreachable storage, bad URI
        raise UserError(f"cannot read experiment {exp!r}: {exc}") from None
    if not found:
        if storage.exists(location):
            raise UserError(f"{location} is not an hpsearch experiment (no {SEARCH_FILE})")
        raise UserError(
            f"no experiment {exp!r} in {root or default_storage()}",
            "`hpsearch list` shows the experiments there; or give a path or URI",
        )
    return location


@dataclass(frozen=True)
class Experiment:
    """A search as it is on storage. Build it with :func:`load_experiment`."""

    location: str
    record: dict[str, Any]
    status: dict[str, Any] | None
    summary: dict[str, Any] | None
    state: str
    state_reason: str
    trials: tuple[TrialRecord, ...] = field(repr=False)

    @property
    def name(self) -> str:
        """The experiment's name."""
        return str(
            self.record.get("experiment", self.location.partition("?")[0].rsplit("/", 1)[-1])
        )

    @property
    def metric(self) -> str:
        """The metric the search optimized."""
        return str(self.record["metric"])

    @property
    def mode(self) -> str:
        """``max`` or ``min``."""
        return str(self.record["mode"])

    @property
    def requested(self) -> int:
        """The number of trials the search was asked for."""
        return int(self.record["config"]["num_samples"])

    @property
    def max_epochs(self) -> int:
        """The epochs a trial trains at most."""
        return int(self.record["config"]["max_epochs"])

    @property
    def last_report(self) -> float | None:
        """Unix time of the newest result any trial reported."""
        times = [r["timestamp"] for t in self.trials for r in t.history if "timestamp" in r]
        return max(times) if times else None

    @property
    def done(self) -> int:
        """Trials that ended (completed, stopped early, diverged or errored)."""
        return sum(t.state in FINAL_STATES for t in self.trials)

    def trial(self, trial_id: str) -> TrialRecord:
        """The trial with this id (its own, or any run's Tune id: a pack's Tune id finds
        its first member) or study number."""
        for t in self.trials:
            if trial_id in (t.trial_id, str(t.number), *t.runs):
                return t
        raise UserError(f"no trial {trial_id!r} in experiment {self.name!r}")

    # Objectives and constraints ------------------------------------------------------

    @cached_property
    def objectives(self) -> tuple[Objective, ...]:
        """What the search optimized, the primary (:attr:`metric`) first; a search of one
        metric (every search written before objectives existed) has just that one."""
        texts = _texts(self.record, "objectives")
        if not texts:
            return (Objective(self.metric, "max" if self.mode == "max" else "min"),)
        return parse_objectives(texts, self.record.get("task"))

    @cached_property
    def constraints(self) -> tuple[Constraint, ...]:
        """The bounds a trial had to meet to count (none for most searches)."""
        texts = _texts(self.record, "constraints")
        return parse_constraints(texts, self.record.get("task")) if texts else ()

    @property
    def multi_objective(self) -> bool:
        """Whether the search optimized more than one objective."""
        return len(self.objectives) > 1

    @property
    def goals(self) -> Goals:
        """Its objectives and constraints together."""
        return Goals(self.objectives, self.constraints)

    @property
    def point_metrics(self) -> tuple[str, ...]:
        """The metrics of a trial's point: each objective's, then each constraint's."""
        return self.goals.metrics

    def point(self, trial: TrialRecord, metrics: Sequence[str] = ()) -> dict[str, Any]:
        """The trial's values of ``metrics`` (default: :attr:`point_metrics`) at the epoch
        where the primary objective was best: the trial's point on the front, the epoch
        whose weights it keeps. ``None`` for a metric it did not report there."""
        _, epoch = trial.score(self.metric, self.mode)
        row = trial.at_epoch(epoch) if epoch else {}
        return {m: row.get(m) for m in (metrics or self.point_metrics)}

    def feasible(self, trial: TrialRecord) -> bool:
        """Whether the trial met every constraint at its point (always, without any)."""
        return is_feasible(self.point(trial), self.constraints)

    def usable(self, trial: TrialRecord) -> bool:
        """Whether the trial has a finite primary score and did not error."""
        return is_usable(trial.state, trial.score(self.metric, self.mode)[0])

    def front(self) -> list[TrialRecord]:
        """The Pareto front: the usable, feasible trials no other such trial dominates on
        the objectives (each trial at its point), best primary objective first.
        (One objective: the best feasible trials, ties included.)"""
        ranked = [t for t in self.leaderboard() if self.usable(t)]
        return [ranked[i] for i in self.goals.front([self.point(t) for t in ranked])]

    def front_entries(self) -> list[dict[str, Any]]:
        """The front as JSON-able data: each member's number, id, state, point and config."""
        entries = []
        for trial in self.front():
            _, epoch = trial.score(self.metric, self.mode)
            entries.append(
                {
                    "trial_id": trial.trial_id,
                    "number": trial.number,
                    "state": trial.state,
                    "epoch": epoch,
                    "epochs_trained": trial.epochs,
                    "values": self.point(trial),
                    "num_params": trial.at_epoch(epoch).get("num_params"),
                    "params": trial.params,
                    "checkpoint": trial.checkpoint,
                }
            )
        return entries

    # Ranking --------------------------------------------------------------------------

    def leaderboard(
        self, top: int | None = None, sort: str | None = None, state: str | None = None
    ) -> list[TrialRecord]:
        """Trials ranked by their best ``sort`` metric (the search's by default).

        With constraints, the feasible trials come first, then the infeasible ones.
        Trials that cannot be the best (no finite value of that metric, or errored)
        come last, in study order, as in the summary's leaderboard.
        """
        metric = sort or self.metric
        mode = self.mode if metric == self.metric else metric_mode(metric)
        chosen = [t for t in self.trials if state is None or t.state == state]
        scored = [t for t in chosen if is_usable(t.state, t.score(metric, mode)[0])]
        scored.sort(key=lambda t: t.score(metric, mode)[0] or 0.0, reverse=mode == "max")
        if self.constraints:  # stable: each group keeps its ranking
            scored.sort(key=lambda t: not self.feasible(t))
        rest = sorted((t for t in chosen if t not in scored), key=lambda t: t.number)
        ranked = scored + rest
        return ranked[:top] if top else ranked

    def best_trial(self, pick: Sequence[Constraint] = ()) -> TrialRecord | None:
        """The feasible trial with the best primary score (the summary's pick once
        finished); with ``pick``, the best of those also meeting every condition in it.
        An infeasible trial is never the best."""
        final = (self.summary or {}).get("best") or {}
        if final and not pick:
            trial = self.trial(final["trial_id"])
            if self.feasible(trial):
                return trial
        usable = [t for t in self.leaderboard() if self.usable(t) and self.feasible(t)]
        if pick:
            usable = [t for t in usable if is_feasible(self.point(t, _metrics(pick)), pick)]
        with_checkpoint = [t for t in usable if t.checkpoint]
        ranked = with_checkpoint or usable
        return ranked[0] if ranked else None

    def best(self, pick: Sequence[Constraint] = ()) -> dict[str, Any] | None:
        """What ``hpsearch best`` shows, as JSON-able data (``pick``: see :meth:`best_trial`)."""
        trial = self.best_trial(pick)
        if trial is None:
            return None
        value, epoch = trial.score(self.metric, self.mode)
        final = (self.summary or {}).get("best") or {}
        info = {
            "experiment": self.name,
            "experiment_state": self.state,
            "trial_id": trial.trial_id,
            "number": trial.number,
            "state": trial.state,
            "metric": self.metric,
            "value": value,
            "epoch": epoch,
            "epochs_trained": trial.epochs,
            "params": trial.params,
            "val": {k: v for k, v in trial.at_epoch(epoch).items() if k.startswith("val_")},
            # The held-out test split is scored once, when the search ends, for its best.
            "test": final.get("test") if final.get("trial_id") in trial.ids else None,
            # Where the checkpoint is as this experiment was read (the summary
            # holds the path the driver wrote, maybe on another machine).
            "checkpoint": trial.checkpoint,
            "wall_time_s": trial.wall_time_s,
            "node": trial.node,
        }
        if self.multi_objective or self.constraints or pick:
            metrics = tuple(dict.fromkeys((*self.point_metrics, *_metrics(pick))))
            info |= {
                "objectives": [o.text for o in self.objectives],
                "constraints": [c.text for c in self.constraints],
                "values": self.point(trial, metrics),
            }
        if pick:
            info["pick"] = [c.text for c in pick]
        return info

    def trials_table(self) -> pa.Table:
        """One row per trial and epoch, typed columns (see :func:`trials_table`)."""
        return trials_table(self)

    def report(self, path: str) -> str:
        """Write the self-contained HTML report to ``path``; returns the path."""
        return write_report(self, path)


def _texts(record: dict[str, Any], key: str) -> list[str]:
    """The objectives or constraints a search recorded (``key``), as texts: the record's
    own, else its config's; none for a search written before they existed."""
    texts = record.get(key)
    if texts is None:
        texts = (record.get("config") or {}).get(key)
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        if texts:
            raise TypeError(f"{key} in {SEARCH_FILE} is not a list of texts")
        return []
    return texts


def _metrics(constraints: Sequence[Constraint]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.metric for c in constraints))


def load_experiment(exp: str, root: str | None = None) -> Experiment:
    """Read an experiment: a name under the storage root, a path or a URI.

    A folder whose files are not what hpsearch writes (hand-edited, cut short,
    from another tool) is one :class:`UserError` saying what is wrong.

    Example:
        >>> exp = hpsearch.load_experiment("spirals-mlp-20261127-101500")  # doctest: +SKIP
        >>> exp.best()["value"], exp.trials_table().num_rows  # doctest: +SKIP
        (0.998, 412)
    """
    location = resolve(exp, root)
    try:
        return _read_experiment(location)
    except UserError as exc:  # objectives or constraints no search writes
        raise UserError(f"experiment {exp!r} is unreadable: {exc.what}") from None
    except _MALFORMED as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise UserError(f"experiment {exp!r} is unreadable: {what}") from None


# What files that are not what hpsearch writes raise when read (JSONDecodeError is a ValueError).
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _read_experiment(location: str) -> Experiment:
    record = _mapping(_read_json(location, SEARCH_FILE), SEARCH_FILE)
    status = _read_json(location, STATUS_FILE)
    summary = _read_json(location, SUMMARY_FILE)
    config = _mapping(record["config"], f"{SEARCH_FILE}'s config")
    # What every listing shows; a KeyError names the key that is missing.
    max_epochs, _, _, _ = (
        int(config["max_epochs"]),
        int(config["num_samples"]),
        record["metric"],
        record["mode"],
    )
    state, reason = experiment_state(
        record,
        None if status is None else _mapping(status, STATUS_FILE),
        None if summary is None else _mapping(summary, SUMMARY_FILE),
    )
    trials = read_trials(location, max_epochs, live=state == "running")
    if summary is not None:
        trials = _as_summarized(trials, summary, location)
    experiment = Experiment(location, record, status, summary, state, reason, trials)
    # Read now: objectives or constraints no search writes make the experiment unreadable.
    _ = experiment.objectives, experiment.constraints
    return experiment


def _as_summarized(
    trials: tuple[TrialRecord, ...], summary: dict[str, Any], location: str
) -> tuple[TrialRecord, ...]:
    """Trials whose result files were cut short by a killed driver, as the summary (which
    asked the study of record) has them: ended, with their epochs and reason."""
    told = {
        row.get("number"): row
        for row in summary.get("leaderboard") or []
        if isinstance(row, dict) and row.get("state") in FINAL_STATES
    }
    on_storage = {t.number for t in trials}
    corrected = tuple(
        replace(
            t,
            state=str(told[t.number]["state"]),
            reason=str(told[t.number].get("reason", "")),
            told_epochs=int(told[t.number].get("epochs", t.epochs)),
        )
        if t.state not in FINAL_STATES and t.number in told
        else t
        for t in trials
    )
    # A trial whose result files the kill left out entirely: as the summary has it.
    metric = str(summary.get("metric", ""))
    lost = [_from_summary(row, metric, location) for n, row in told.items()
            if n not in on_storage and isinstance(n, int)]  # fmt: skip
    return tuple(sorted((*corrected, *lost), key=lambda t: t.number))


def _from_summary(row: dict[str, Any], metric: str, location: str) -> TrialRecord:
    """A trial as the summary's leaderboard row has it; its checkpoint only if it lies
    in the experiment at ``location``."""
    values = row.get("values")
    best = {
        **(values if isinstance(values, dict) else {}),
        "epoch": int(row.get("best_epoch") or 0),
        metric: row.get("best_value"),
    }
    return TrialRecord(
        trial_id=str(row.get("trial_id", "")),
        number=int(row["number"]),
        params=dict(row.get("params") or {}),
        optuna=None,
        history=(best,) if row.get("best_value") is not None else (),
        state=str(row["state"]),
        reason=str(row.get("reason", "")),
        checkpoint=contained_checkpoint(row.get("checkpoint"), location),
        runs=(str(row.get("trial_id", "")),),
        told_epochs=int(row.get("epochs") or 0),
    )


def contained_checkpoint(checkpoint: Any, location: str) -> str | None:
    """``checkpoint`` (a path or URI read from storage: data, not trusted) as a location in
    the experiment at ``location``, or ``None`` if it is not named as a search names one.

    Its last two parts must be ``trial_<id>/checkpoint_<n>`` (three for a pack member's,
    ``.../member_<number>``); it is rebuilt under ``location`` (with its ``?options``),
    where a search put it, so nothing outside the experiment is ever read, and a moved or
    copied experiment keeps its checkpoints.
    """
    if not isinstance(checkpoint, str):
        return None
    parts = checkpoint.partition("?")[0].rstrip("/").split("/")
    tail = "/".join(parts[-3:] if parts[-1].startswith(MEMBER_PREFIX) else parts[-2:])
    if not CHECKPOINT_NAME.fullmatch(tail):
        return None
    return storage.join(location, tail)


def _read_json(location: str, name: str) -> Any:
    try:
        return storage.read_json(storage.join(location, name))
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc})") from None


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not a JSON object")
    return value


@dataclass(frozen=True)
class Unreadable:
    """A folder under the storage root that looks like an experiment but cannot be read."""

    name: str
    location: str
    reason: str


def scan_experiments(root: str | None = None) -> list[Experiment | Unreadable]:
    """Every experiment under the storage root, oldest first; unreadable ones last,
    each with the reason, so one damaged folder hides no other."""
    root = root or default_storage()
    if "://" not in root:
        root = os.path.abspath(os.path.expanduser(root))  # the default is ~/hpsearch-results
        if not os.path.isdir(root):
            return []
    found: list[Experiment] = []
    unreadable: list[Unreadable] = []
    for name in storage.list_dirs(root):
        location = storage.join(root, name)
        try:
            if not storage.exists(storage.join(location, SEARCH_FILE)):
                continue
            experiment = load_experiment(location)
            experiment.best_trial()  # a summary naming a trial that is not there
            found.append(experiment)
        except (UserError, OSError, *_MALFORMED) as exc:  # one damaged folder hides no other
            reason = exc.what if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            unreadable.append(Unreadable(name, location, reason.split(" is unreadable: ")[-1]))
    found.sort(key=lambda e: str(e.record.get("started_at", "")))
    return [*found, *unreadable]


def list_experiments(root: str | None = None) -> list[Experiment]:
    """Every readable experiment under the storage root, oldest first."""
    return [e for e in scan_experiments(root) if isinstance(e, Experiment)]
