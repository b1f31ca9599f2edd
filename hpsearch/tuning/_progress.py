"""Tune callbacks: live progress (a line per finished trial, a status line every few
seconds) and the driver's heartbeat in ``status.json``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from hpsearch.experiments import trial_state
from hpsearch.metrics import is_better, is_finite
from hpsearch.objectives import Constraint, is_feasible
from hpsearch.trainable import PACK_KEY
from hpsearch.tuning._packs import is_pack, member_results
from hpsearch.tuning._status import write_status
from hpsearch.tuning._summary import TrialTimes

# How a progress line tells each final state (experiments.trial_state decides which).
_SAID = {
    "completed": "completed",
    "stopped": "stopped early at epoch {epoch}",
    "diverged": "diverged at epoch {epoch}",
    "errored": "errored",
}


def trial_number(trial: Trial) -> int:
    """The trial's number in the Optuna study (0, 1, ...), which the space wrapper records."""
    return int(trial.config.get("trial_number", -1))


@dataclass
class ProgressCallback(Callback):
    """Prints search progress and records when each trial ran.

    The timeline feeds the summary (how many trials ran at once), so it is
    kept even when nothing is printed.
    """

    metric: str
    mode: str
    max_epochs: int
    num_samples: int
    echo: Callable[[str], None] | None = print
    interval_s: float = 5.0
    #: Only a trial meeting these counts as the best so far (as in the summary).
    constraints: tuple[Constraint, ...] = ()
    times: dict[str, TrialTimes] = field(default_factory=dict)
    _start: float = field(default_factory=time.monotonic)
    _last_status: float = 0.0
    _best: tuple[float, int, int] | None = None
    _last: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Each running pack's members still in it, with their last metrics.
    _members: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    _done: int = 0

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(f"[{self._now():6.1f}s] {line}")

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.times[trial.trial_id] = TrialTimes(start=self._now())

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        if not is_pack(trial.config):
            self._last[trial.trial_id] = result
            self._note_best(result, trial_number(trial))
            return
        members = member_results(result)
        before = self._members.setdefault(trial.trial_id, {})
        for number in [n for n in before if n not in members]:  # stopped by the scheduler
            self._said(number, before.pop(number), errored=False)
        for number, metrics in members.items():
            self._note_best(metrics, number)
            before[number] = metrics
            if metrics.get("left"):
                self._said(number, before.pop(number), errored=False)

    def _note_best(self, result: dict[str, Any], number: int) -> None:
        value = result.get(self.metric)
        so_far = self._best[0] if self._best else None
        if not (is_finite(value) and is_feasible(result, self.constraints)):
            return
        if is_better(value, so_far, self.mode):
            self._best = (float(value), number, int(result.get("epoch", 0)))

    def _finish(self, trial: Trial, errored: bool) -> None:
        times = self.times.setdefault(trial.trial_id, TrialTimes(start=self._now()))
        times.end = self._now()
        if is_pack(trial.config):
            # Members still running when the pack ended (the last ones, or a crash).
            for number, last in self._members.pop(trial.trial_id, {}).items():
                self._said(number, last, errored)
            return
        self._said(trial_number(trial), self._last.get(trial.trial_id, {}), errored)

    def _said(self, number: int, last: dict[str, Any], errored: bool) -> None:
        """A line for trial ``number``, which ended with ``last`` as its last metrics."""
        epoch = int(last.get("epoch", 0))
        state, _ = trial_state(
            epochs=epoch,
            max_epochs=self.max_epochs,
            done=True,
            diverged=bool(last.get("diverged")),
            error="" if errored else None,
            live=False,
        )
        how = _SAID[state].format(epoch=epoch)
        value = last.get(self.metric)
        score = f"{self.metric}={value:.4f}" if isinstance(value, float) else ""
        self._done += 1
        self._say(f"trial {number:3d} {how:<26} {score}  ({self._done}/{self.num_samples} done)")

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._finish(trial, errored=False)

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._finish(trial, errored=True)

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = self._now()
        if now - self._last_status < self.interval_s:
            return
        self._last_status = now
        running = sum(
            len(self._members.get(t.trial_id) or t.config[PACK_KEY]) if is_pack(t.config) else 1
            for t in trials
            if t.status == Trial.RUNNING
        )
        done = self._done
        best = ""
        if self._best:
            value, number, epoch = self._best
            feasible = " feasible" if self.constraints else ""
            best = f" | best{feasible} {self.metric} {value:.4f} (trial {number}, epoch {epoch})"
        self._say(f"{running} running, {done}/{self.num_samples} done{best}")


@dataclass
class Heartbeat(Callback):
    """Rewrites ``status.json`` every ``interval_s`` while Tune runs.

    One small write per interval, not per result: on object storage every
    write is a request.
    """

    directory: str
    interval_s: float = 10.0
    _last: float = field(default=0.0)

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into tuner.pkl: a URI may carry credentials,
        # so it is not pickled. An unpickled heartbeat stays silent.
        return {**self.__dict__, "directory": ""}

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if not self.directory:
            return
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        states: dict[str, int] = {}
        for trial in trials:
            states[trial.status.lower()] = states.get(trial.status.lower(), 0) + 1
        write_status(self.directory, "running", trials=states)
