"""Tune trial schedulers (early stopping) by name."""

from __future__ import annotations

from collections.abc import Callable

from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

from hpsearch.config import SearchConfig

SchedulerFactory = Callable[[SearchConfig], TrialScheduler]

SCHEDULERS: dict[str, SchedulerFactory] = {
    "asha": lambda c: ASHAScheduler(
        time_attr="epoch",
        max_t=c.max_epochs,
        grace_period=c.resolved_grace_period(),
        reduction_factor=3,
    ),
    # Asynchronous HyperBand: ASHA over 3 brackets, each with a longer grace
    # period, hedging against early-stopping too soon. Ray's synchronous
    # HyperBandScheduler pauses trials until a bracket fills, which with a
    # sequential searcher and a concurrency limit left every trial running
    # to the end (measured here); the asynchronous form stops trials for real.
    "hyperband": lambda c: ASHAScheduler(
        time_attr="epoch",
        max_t=c.max_epochs,
        grace_period=c.resolved_grace_period(),
        reduction_factor=3,
        brackets=3,
    ),
    "median": lambda c: MedianStoppingRule(
        time_attr="epoch", grace_period=c.resolved_grace_period(), min_samples_required=3
    ),
    "none": lambda c: FIFOScheduler(),
}


def build_scheduler(config: SearchConfig) -> TrialScheduler:
    """The scheduler named by ``config.scheduler``, counting time in epochs."""
    return SCHEDULERS[config.scheduler](config)


def stop_epochs(config: SearchConfig) -> frozenset[int]:
    """Epochs at which the scheduler may end a trial, so trials checkpoint there.

    ASHA (and asynchronous HyperBand, whose brackets start at later rungs)
    decides only at its rungs, grace_period * 3**k; checkpointing at those
    epochs means a trial it stops always leaves its final weights.
    """
    if config.scheduler in ("asha", "hyperband"):
        rungs, epoch = set(), config.resolved_grace_period()
        while epoch < config.max_epochs:
            rungs.add(epoch)
            epoch *= 3
        return frozenset(rungs)
    return frozenset()
