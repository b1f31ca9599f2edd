"""Early-stopping rules as Optuna pruners that read only the study's per-epoch values.

They decide as Ray's asynchronous successive halving and median stopping rule
do (the rules hpsearch measured its early stopping with, benchmarks/suite.py),
but keep no state of their own: everything they need is in the study of
record, so a resumed search judges its trials against every earlier one.
Public Optuna API only (``BasePruner``, ``Study.get_trials``).
"""

from __future__ import annotations

import hashlib
import math
import statistics

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from hpsearch.objectives import Goals, losses, penalty, survivors
from hpsearch.tuning._record import AT


def _sign(study: optuna.Study) -> float:
    """+1 when higher is better, -1 when lower is: values times this are maximized."""
    return 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0


def _others(study: optuna.Study, trial: FrozenTrial) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]


class HalvingPruner(optuna.pruners.BasePruner):
    """Asynchronous successive halving, over one bracket or several (HyperBand).

    At each rung (``grace * factor**k`` epochs, below ``max_epochs``), a trial
    goes on if its value is at least the ``1 - 1/factor`` quantile of the
    values other trials of its bracket had at that rung: with factor 2, the
    better half. A trial's bracket follows from its number, so a resumed trial
    stays in its bracket.
    """

    def __init__(self, grace: int, factor: int, max_epochs: int, brackets: int = 1) -> None:
        self.grace, self.factor, self.max_epochs = grace, factor, max_epochs
        # Bracket s starts at grace * factor**s; fewer rungs, fewer starting trials (as Ray).
        self.rungs = [self._rungs(s) for s in range(brackets)]
        sizes = np.array([len(r) for r in self.rungs], dtype=float)
        weights = np.exp(sizes - sizes.max())
        self.edges = np.cumsum(weights / weights.sum())

    def _rungs(self, bracket: int) -> frozenset[int]:
        rungs, epoch = set(), self.grace * self.factor**bracket
        while epoch < self.max_epochs:
            rungs.add(epoch)
            epoch *= self.factor
        return frozenset(rungs)

    def bracket(self, number: int) -> int:
        """The bracket of trial ``number``: a fixed draw with Ray's preference for more rungs."""
        digest = hashlib.sha256(str(number).encode()).digest()[:8]
        draw = int.from_bytes(digest, "little") / 2.0**64
        return min(int(np.searchsorted(self.edges, draw, side="right")), len(self.rungs) - 1)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        bracket = self.bracket(trial.number)
        if step is None or step not in self.rungs[bracket]:
            return False
        value = trial.intermediate_values[step]
        if not math.isfinite(value):
            return True
        sign = _sign(study)
        peers = [
            sign * t.intermediate_values[step]
            for t in _others(study, trial)
            if step in t.intermediate_values and self.bracket(t.number) == bracket
        ]
        peers = [v for v in peers if math.isfinite(v)]
        if not peers:
            return False
        cutoff = float(np.percentile(peers, (1 - 1 / self.factor) * 100))
        return sign * value < cutoff


def _reached(trial: FrozenTrial, step: int) -> bool:
    """Whether ``trial`` reported ``step`` or a later epoch."""
    return bool(trial.intermediate_values) and max(trial.intermediate_values) >= step


def _mean(trial: FrozenTrial, first: int, last: int, sign: float) -> float:
    """The mean of ``trial``'s values (times ``sign``) over epochs ``first`` to ``last``."""
    window = [sign * v for e, v in trial.intermediate_values.items() if first <= e <= last]
    return statistics.fmean(window) if window else math.nan


class MedianRulePruner(optuna.pruners.BasePruner):
    """The median stopping rule: from epoch ``grace`` on, a trial stops when its best
    value so far is worse than the median of the other trials' mean values over
    epochs ``grace`` to the same epoch (those that got that far, at least
    ``min_trials`` of them), as Ray's ``MedianStoppingRule`` decides."""

    def __init__(self, grace: int, min_trials: int = 3) -> None:
        self.grace, self.min_trials = grace, min_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.grace:
            return False
        sign = _sign(study)
        means = [
            _mean(t, self.grace, step, sign) for t in _others(study, trial) if _reached(t, step)
        ]
        means = [m for m in means if math.isfinite(m)]
        if len(means) < self.min_trials:
            return False
        best = max(sign * v for v in trial.intermediate_values.values())
        return best < statistics.median(means)


class ParetoHalving:
    """Successive halving on several metrics: at each rung of a trial's bracket (as
    :class:`HalvingPruner` places them), the trials of its bracket that reached the rung
    are ranked by constrained non-dominated sorting, then crowding distance; a trial
    goes on if it is among the first ``1/factor`` of them, or on their first feasible
    front, so a small, fast model is not stopped for being less accurate than a big one.

    It reads the study's ``at:<epoch>`` entries (Optuna prunes no study with several
    objectives), and keeps no state: a resumed search judges against every earlier trial.
    """

    def __init__(self, halving: HalvingPruner, goals: Goals) -> None:
        self.halving, self.goals = halving, goals

    @property
    def marks(self) -> frozenset[int]:
        """The epochs it judges at: every bracket's rungs."""
        return frozenset().union(*self.halving.rungs)

    def stops(self, study: optuna.Study, number: int, epoch: int) -> bool:
        """Whether trial ``number`` stops at ``epoch``, by its and its peers' metrics there."""
        bracket = self.halving.bracket(number)
        if epoch not in self.halving.rungs[bracket]:
            return False
        metrics: dict[int, dict] = {}
        for trial in study.get_trials(deepcopy=False):
            entry = trial.user_attrs.get(f"{AT}{epoch}")
            if isinstance(entry, dict) and self.halving.bracket(trial.number) == bracket:
                metrics[trial.number] = entry
        if number not in metrics:
            return False
        numbers = sorted(metrics)
        points = [losses(metrics[n], self.goals.objectives) for n in numbers]
        mine = points[numbers.index(number)]
        if not all(math.isfinite(x) for x in mine):
            return True
        if len(numbers) == 1:
            return False
        penalties = [penalty(metrics[n], self.goals.constraints) for n in numbers]
        keep = math.ceil(len(numbers) / self.halving.factor)
        return numbers.index(number) not in survivors(points, penalties, keep)
