"""Tune trial schedulers (early stopping) by name: one frozen entry each, as every registry."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import (
    AsyncHyperBandScheduler,
    FIFOScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

from hpsearch import compat
from hpsearch.config import SearchConfig
from hpsearch.errors import lookup
from hpsearch.metrics import is_finite

SchedulerFactory = Callable[[SearchConfig], TrialScheduler]


@dataclass(frozen=True)
class SchedulerEntry:
    """A registered scheduler: how to build it from a config, one line about it."""

    factory: SchedulerFactory
    summary: str


#: ASHA keeps the best 1/REDUCTION_FACTOR at each rung: halving (Ray's default
#: is 3) keeps enough candidates alive in searches of 16-32 trials (benchmarks/suite.py).
REDUCTION_FACTOR = 2

History = Sequence[Mapping[str, Any]]


def _unit_interval(trial_id: str) -> float:
    """A number in [0, 1) fixed by the trial's id (Tune's ids are random)."""
    return int.from_bytes(hashlib.sha256(trial_id.encode()).digest()[:8], "little") / 2.0**64


def _replayable(trial: Trial, history: History, time_attr: str) -> History:
    """The part of a re-added trial's history a scheduler may take as judged.

    All of it for a trial that ended. One that continues re-reports the
    epochs after its checkpoint, and is judged again at those.
    """
    if trial.status == Trial.TERMINATED:
        return history
    checkpointed = trial.latest_checkpoint_result
    until = checkpointed.metrics.get(time_attr, 0) if checkpointed else 0
    return [row for row in history if row.get(time_attr, math.inf) <= until]


class AsyncHyperBand(AsyncHyperBandScheduler):
    """Ray's asynchronous HyperBand (ASHA when it has one bracket), resumable.

    Tune saves no scheduler state: a resumed search would judge its trials
    against empty rungs and stop none. Two changes make the state
    rebuildable from the trials' results alone:

    - a trial's bracket follows from its id, with Ray's probabilities,
      instead of a random draw. Resumed, every trial lands in the bracket it
      was in; and a trial restarted after a lost node keeps its bracket
      (Ray draws a new one when it re-adds the trial);
    - :meth:`remember` takes the earlier trials' histories, and each trial's
      rung results are put back when Tune re-adds it on resume.
    """

    def __init__(self, *, time_attr: str, **kwargs: Any) -> None:
        super().__init__(time_attr=time_attr, **kwargs)
        self.time_unit = time_attr
        self.sign = 1.0  # as ASHA records values: times -1 when minimizing
        self._remembered: dict[str, History] = {}
        self.replayed = 0  # re-added trials it had a history for

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if mode is not None:
            self.sign = -1.0 if mode == "min" else 1.0
        return bool(super().set_search_properties(metric, mode, **spec))

    def remember(self, histories: Mapping[str, History]) -> None:
        """Results of trials that ran before this scheduler existed, by trial id."""
        self._remembered.update(histories)

    def bracket_of(self, trial_id: str) -> int:
        """The index of the bracket a trial runs in."""
        sizes = np.array([len(compat.bracket_rungs(b)) for b in compat.asha_brackets(self)])
        weights = np.exp(sizes - sizes.max())  # Ray's own preference for more rungs
        edges = np.cumsum(weights / weights.sum())
        return min(
            int(np.searchsorted(edges, _unit_interval(trial_id), side="right")), len(edges) - 1
        )

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)  # checks metric and mode
        bracket = compat.asha_brackets(self)[self.bracket_of(trial.trial_id)]
        compat.assign_bracket(self, trial.trial_id, bracket)
        history = self._remembered.pop(trial.trial_id, None)
        if not history:
            return
        history = _replayable(trial, history, self.time_unit)
        by_epoch = {row.get(self.time_unit): row.get(self.metric) for row in history}
        for milestone, recorded in compat.bracket_rungs(bracket):
            value = by_epoch.get(milestone)
            if is_finite(value):
                recorded.setdefault(trial.trial_id, self.sign * float(value))
        self.replayed += 1


class MedianStopping(MedianStoppingRule):
    """Ray's median stopping rule, resumable, never pausing, counting each epoch once.

    The rule compares a trial with the running means of the others; Tune
    saves none of them. :meth:`remember` takes the earlier trials' histories,
    put back when Tune re-adds each trial on resume. And a trial that
    restarts from a checkpoint reports epochs it had reported before: Ray
    appends them again, weighting them twice; here they replace the old.
    """

    def __init__(self, *, time_attr: str, **kwargs: Any) -> None:
        super().__init__(time_attr=time_attr, **kwargs)
        self.time_unit = time_attr
        self._remembered: dict[str, History] = {}
        self.replayed = 0

    def remember(self, histories: Mapping[str, History]) -> None:
        """Results of trials that ran before this scheduler existed, by trial id."""
        self._remembered.update(histories)

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        metric, time = self.metric, self.time_unit
        history = self._remembered.pop(trial.trial_id, None)
        rows = [
            {time: row[time], metric: row[metric]}
            for row in history or ()
            if time in row and metric in row
        ]
        if rows:
            compat.median_results(self)[trial] = rows
            self.replayed += 1

    # An override of a private hook (listed in compat.PRIVATE, tested there).
    def _on_insufficient_samples(self, tune_controller: Any, trial: Trial, time: float) -> str:
        # Never pause: a paused function trainable retrains the epochs since its checkpoint.
        return str(TrialScheduler.CONTINUE)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        # .get, not [ ]: _results is a defaultdict, and an empty entry would
        # break Ray's _trials_beyond_time, which reads every entry's last row.
        rows = compat.median_results(self).get(trial)
        now = result.get(self.time_unit)
        while rows and now is not None and rows[-1][self.time_unit] >= now:
            rows.pop()
        return str(super().on_trial_result(tune_controller, trial, result))


def _halving(config: SearchConfig, brackets: int = 1) -> AsyncHyperBand:
    """Asynchronous successive halving over epochs; HyperBand with several brackets."""
    return AsyncHyperBand(
        time_attr="epoch",
        max_t=config.max_epochs,
        grace_period=config.resolved_grace_period(),
        reduction_factor=REDUCTION_FACTOR,
        brackets=brackets,
    )


SCHEDULERS: dict[str, SchedulerEntry] = {
    "asha": SchedulerEntry(
        _halving,
        "asynchronous successive halving: keeps the best half at each rung (default)",
    ),
    # Asynchronous: Ray's synchronous HyperBand waits for full brackets, which a
    # sequential searcher under a concurrency limit never fills, so it stopped nothing.
    "hyperband": SchedulerEntry(
        lambda c: _halving(c, brackets=3),
        "asynchronous HyperBand: successive halving over 3 brackets of grace periods",
    ),
    "median": SchedulerEntry(
        lambda c: MedianStopping(
            time_attr="epoch", grace_period=c.resolved_grace_period(), min_samples_required=3
        ),
        "median stopping: ends a trial below the others' running median",
    ),
    "none": SchedulerEntry(lambda c: FIFOScheduler(), "no early stopping: every trial runs out"),
}


def build_scheduler(config: SearchConfig) -> TrialScheduler:
    """The scheduler named by ``config.scheduler``, counting time in epochs."""
    return lookup(SCHEDULERS, "scheduler", config.scheduler).factory(config)


def stop_epochs(config: SearchConfig) -> frozenset[int]:
    """Epochs at which the scheduler may end a trial, so trials checkpoint there.

    ASHA (and asynchronous HyperBand, whose brackets start at later rungs)
    decides only at its rungs, grace_period * REDUCTION_FACTOR**k; checkpointing at those
    epochs means a trial it stops always leaves its final weights.
    """
    if config.scheduler in ("asha", "hyperband"):
        rungs, epoch = set(), config.resolved_grace_period()
        while epoch < config.max_epochs:
            rungs.add(epoch)
            epoch *= REDUCTION_FACTOR
        return frozenset(rungs)
    return frozenset()


def remember_histories(scheduler: TrialScheduler, histories: Iterable[tuple[str, History]]) -> bool:
    """Hand a fresh scheduler the results of a resumed search's earlier trials.

    Returns False for a scheduler with no state to rebuild (``none``).
    """
    if not isinstance(scheduler, AsyncHyperBand | MedianStopping):
        return False
    scheduler.remember(dict(histories))
    return True
