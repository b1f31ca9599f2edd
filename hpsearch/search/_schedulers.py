"""Tune trial schedulers (early stopping) by name."""

from __future__ import annotations

from collections.abc import Callable

from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

from hpsearch.config import SearchConfig

SchedulerFactory = Callable[[SearchConfig], TrialScheduler]

SCHEDULERS: dict[str, SchedulerFactory] = {
    "asha": lambda c: ASHAScheduler(
        time_attr="epoch", max_t=c.max_epochs, grace_period=c.resolved_grace_period(), reduction_factor=3
    ),
    "hyperband": lambda c: HyperBandScheduler(time_attr="epoch", max_t=c.max_epochs),
    "median": lambda c: MedianStoppingRule(
        time_attr="epoch", grace_period=c.resolved_grace_period(), min_samples_required=3
    ),
    "none": lambda c: FIFOScheduler(),
}

#: Schedulers that pause trials and resume them later from their checkpoint.
PAUSING_SCHEDULERS = frozenset({"hyperband"})


def build_scheduler(config: SearchConfig) -> TrialScheduler:
    """The scheduler named by ``config.scheduler``, counting time in epochs."""
    return SCHEDULERS[config.scheduler](config)


def stop_epochs(config: SearchConfig) -> frozenset[int]:
    """Epochs at which the scheduler may end a trial, so trials checkpoint there.

    ASHA decides only at its rungs (grace_period * 3**k); checkpointing at
    those epochs means a trial it stops always leaves its final weights.
    Hyperband pauses and resumes trials from their last checkpoint, so it
    needs one every epoch to lose no work.
    """
    if config.scheduler == "asha":
        rungs, epoch = set(), config.resolved_grace_period()
        while epoch < config.max_epochs:
            rungs.add(epoch)
            epoch *= 3
        return frozenset(rungs)
    if config.scheduler in PAUSING_SCHEDULERS:
        return frozenset(range(1, config.max_epochs + 1))
    return frozenset()
