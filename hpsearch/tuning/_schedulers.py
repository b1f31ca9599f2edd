"""Early stopping by name: pruners judging from the study of record alone.

A pruner decides from the study's per-epoch values alone, so a resumed
search judges its trials against every earlier trial without any saved
scheduler state. One thin Tune scheduler asks it after each epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import ray
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from hpsearch.config import SearchConfig
from hpsearch.errors import lookup
from hpsearch.metrics import is_finite
from hpsearch.trainable import MEMBER_PREFIX
from hpsearch.tuning._packs import is_pack, member_results
from hpsearch.tuning._pruners import HalvingPruner, MedianRulePruner, ParetoHalving
from hpsearch.tuning._record import StudyRecord

PrunerFactory = Callable[[SearchConfig], optuna.pruners.BasePruner]


@dataclass(frozen=True)
class SchedulerEntry:
    """A registered scheduler: how to build its pruner from a config, one line about it."""

    factory: PrunerFactory
    summary: str


#: Successive halving keeps the best 1/REDUCTION_FACTOR at each rung: halving keeps
#: enough candidates alive in searches of 16-32 trials (benchmarks/suite.py).
REDUCTION_FACTOR = 2


def _halving(config: SearchConfig, brackets: int = 1) -> optuna.pruners.BasePruner:
    grace = config.resolved_grace_period()
    return HalvingPruner(grace, REDUCTION_FACTOR, config.max_epochs, brackets)


def _median(config: SearchConfig) -> optuna.pruners.BasePruner:
    return MedianRulePruner(config.resolved_grace_period(), min_trials=3)


SCHEDULERS: dict[str, SchedulerEntry] = {
    "asha": SchedulerEntry(
        _halving, "asynchronous successive halving: keeps the best half at each rung (default)"
    ),
    "hyperband": SchedulerEntry(
        lambda c: _halving(c, brackets=3),
        "asynchronous HyperBand: successive halving over 3 brackets of grace periods",
    ),
    "median": SchedulerEntry(
        _median, "median stopping: ends a trial below the others' running median"
    ),
    "none": SchedulerEntry(
        lambda c: optuna.pruners.NopPruner(), "no early stopping: every trial runs out"
    ),
}


def build_pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    """The pruner named by ``config.scheduler``, counting resources in epochs."""
    return lookup(SCHEDULERS, "scheduler", config.scheduler).factory(config)


class StudyScheduler(FIFOScheduler):
    """Tune's side of early stopping: each epoch's value goes into the study, and the
    study's pruner says whether the trial goes on. Never pauses (a paused function
    trainable retrains the epochs since its checkpoint).

    A pack's members are judged one by one, each against all that reached the epoch: a
    stopped member is told to the study at once and left in ``stops`` (the
    :class:`~hpsearch.tuning._stops.PackStops` actor) for the pack to drop; the pack
    stops when no member is left running."""

    def __init__(
        self,
        record: StudyRecord,
        metric: str,
        max_epochs: int,
        keep_checkpoints: int = 2,
        searcher: Any = None,
        stops: Any = None,
    ) -> None:
        super().__init__()
        self.record, self.value_key, self.max_epochs = record, metric, max_epochs
        self.searcher, self.stops = searcher, stops
        # Kept one at a time, a trial's previous checkpoint is gone once the next is
        # made: the journal must name the new one at once (else every 5 s is enough).
        self.upload_checkpoints = keep_checkpoints == 1
        self.stopped: set[int] = set()
        # Trials judged on several metrics: halving ranks them at its rungs (Optuna
        # prunes no multi-objective study); the other rules judge the primary's values.
        self.rule: ParetoHalving | None = None
        pruner = record.study.pruner  # the study's own: what a single metric is judged by
        self.early = not isinstance(pruner, optuna.pruners.NopPruner)
        if record.goals is not None and record.ranked:
            if isinstance(pruner, HalvingPruner):
                self.rule = ParetoHalving(pruner, record.goals)
            record.marks = (self.rule.marks if self.rule else frozenset()) | {max_epochs}

    @property
    def supports_buffered_results(self) -> bool:
        return False  # each epoch is judged as it comes

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if is_pack(trial.config):
            return self._on_pack_result(trial, result)
        number = int(trial.config["trial_number"])
        checkpoint = result.get("checkpoint_dir_name")
        where = f"trial_{trial.trial_id}/{checkpoint}" if checkpoint else None
        fresh, checkpointed = self._record(number, result, where)
        stop = self._decide(number, result, fresh)
        # In the journal at once: a kill before the study is told leaves the trial stopped.
        self.record.sync(force=stop or (checkpointed and self.upload_checkpoints))
        return str(TrialScheduler.STOP if stop else TrialScheduler.CONTINUE)

    def _on_pack_result(self, trial: Trial, result: dict[str, Any]) -> str:
        """Every member's epoch recorded first, then each judged against all of them
        (they reached it together); members that ended are told to the study now."""
        members = sorted(member_results(result).items())
        checkpoint = result.get("checkpoint_dir_name")
        fresh, checkpointed = {}, False
        for number, metrics in members:
            where = None
            if checkpoint:
                where = f"trial_{trial.trial_id}/{checkpoint}/{MEMBER_PREFIX}{number}"
            fresh[number], saved = self._record(number, metrics, where)
            checkpointed = checkpointed or saved
        stopping, running, told = [], 0, 0
        for number, metrics in members:
            left = bool(metrics.get("left"))
            if not left and self._decide(number, metrics, fresh[number]):
                stopping.append(number)
            elif not left:
                running += 1
                continue
            if self.searcher is not None:
                self.searcher.tell(number, metrics)
                told += 1
        if stopping and running and self.stops is not None:
            # Before the pack is let go on: it reads this right after its report returns.
            ray.get(self.stops.stop.remote(trial.trial_id, stopping))
        self.record.sync(force=bool(told or stopping) or (checkpointed and self.upload_checkpoints))
        return str(TrialScheduler.CONTINUE if running else TrialScheduler.STOP)

    def _record(self, number: int, result: dict[str, Any], where: str | None) -> tuple[bool, bool]:
        """Record trial ``number``'s epoch, and its checkpoint (``where``); whether the
        epoch was new, and whether a checkpoint was recorded."""
        fresh = self.record_result(number, result)
        checkpointed = where is not None and number in self.record.trials
        if checkpointed:
            # Where a resumed search continues this trial from, should this run stop
            # (relative: the experiment may have moved by then).
            best = self.record.best_attrs(number) if self.record.ranked else {}
            epoch = int(result.get("epoch", 0))
            self.record.set_attrs(number, checkpoint=where, checkpoint_epoch=epoch, **best)
        return fresh, checkpointed

    def _decide(self, number: int, result: dict[str, Any], fresh: bool) -> bool:
        """Whether the rule stops trial ``number`` at the epoch just recorded (``fresh``:
        it was new); a stopped trial is marked so in the journal."""
        # Judged once per epoch, on a value it just recorded (a restart re-reports epochs,
        # as Ray's rules never judge a rung twice); never at the last epoch: it ran to the end.
        epoch = int(result.get("epoch", 0))
        judged = 0 < epoch < self.max_epochs and number in self.record.trials
        if not judged or not (
            (fresh and self._judged_out(number, epoch)) or self._hopeless(number, result)
        ):
            return False
        self.stopped.add(number)
        if self.record.goals is not None and self.record.ranked:  # told from them
            self.record.note(number, epoch, self.record.goals.measured(result), keep=True)
        self.record.set_attrs(number, stopped_at=epoch)
        return True

    def _judged_out(self, number: int, epoch: int) -> bool:
        if self.rule is not None:
            return self.rule.stops(self.record.study, number, epoch)
        if self.record.goals is not None and self.record.goals.multi:
            return False  # no rule: the scheduler is "none" (median is refused for several)
        return self.record.should_prune(number)

    def _hopeless(self, number: int, result: dict[str, Any]) -> bool:
        """A trial whose model breaks a size or latency bound never becomes feasible: with
        early stopping on, it stops at once (its metrics kept, to be told)."""
        goals = self.record.goals
        if not (self.early and goals is not None and goals.hopeless(result)):
            return False
        self.record.note(number, int(result["epoch"]), goals.measured(result), keep=True)
        return True

    def record_result(self, number: int, result: dict[str, Any]) -> bool:
        """The epoch's value (or metrics) into the study (a non-finite one is not a
        value); whether it is new there."""
        value, epoch = result.get(self.value_key), result.get("epoch")
        if not isinstance(epoch, int) or number not in self.record.trials:
            return False
        fresh = False
        goals = self.record.goals
        if goals is not None and self.record.ranked:
            fresh = self.record.note(number, epoch, goals.measured(result))
        if is_finite(value) and (goals is None or not goals.multi):
            fresh = self.record.report(number, epoch, float(value)) or fresh
        return fresh


def stop_epochs(config: SearchConfig) -> frozenset[int]:
    """Epochs at which the pruner may end a trial, so trials checkpoint there.

    Successive halving (and HyperBand, whose brackets start at later rungs)
    decides only at its rungs, grace_period * REDUCTION_FACTOR**k; checkpointing at
    those epochs means a trial it stops always leaves its final weights.
    """
    pruner = build_pruner(config)
    # Bracket 0 starts at the grace period: its rungs hold every later bracket's.
    return pruner.rungs[0] if isinstance(pruner, HalvingPruner) else frozenset()
