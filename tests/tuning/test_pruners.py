"""hpsearch's pruners decide as Ray's schedulers they replace (the rules
benchmarks/suite.py measured early stopping with), result by result.

The same stream of per-epoch results, trials interleaved as concurrent trials
report, goes to Ray's real scheduler and to an Optuna study with hpsearch's
pruner; every decision must agree. No Ray cluster starts: the schedulers are
plain objects fed real ``Trial`` objects.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from hpsearch.config import SearchConfig
from hpsearch.tuning._schedulers import build_pruner

MAX_EPOCHS = 16


def _ray_scheduler(scheduler: str, grace: int, mode: str) -> Any:
    from ray.tune.schedulers import AsyncHyperBandScheduler, MedianStoppingRule

    from hpsearch.tuning._schedulers import REDUCTION_FACTOR

    if scheduler == "asha":
        ray: Any = AsyncHyperBandScheduler(
            time_attr="epoch",
            max_t=MAX_EPOCHS,
            grace_period=grace,
            reduction_factor=REDUCTION_FACTOR,
            brackets=1,
        )
    else:
        ray = MedianStoppingRule(time_attr="epoch", grace_period=grace, min_samples_required=3)
    ray.set_search_properties("score", mode)
    return ray


class _Controller:
    """What Ray's median rule asks of Tune's controller when samples are few: the trials
    waiting for a slot (none: a stopped trial's slot goes to the next in the stream)."""

    def get_live_trials(self) -> list[Any]:
        return []


def _stream(seed: int, trials: int, concurrent: int) -> list[tuple[int, int, float]]:
    """(trial, epoch, value) as ``concurrent`` trials at a time report them: each trial
    has its own level and slope plus noise; a new trial starts when one ends (here:
    when it reaches the last epoch; stopped trials are cut by the consumer)."""
    rng = random.Random(seed)
    shape = {n: (rng.uniform(0.3, 0.8), rng.uniform(-0.01, 0.03)) for n in range(trials)}
    running: dict[int, int] = {}
    waiting = list(range(trials))
    events = []
    while waiting or running:
        while waiting and len(running) < concurrent:
            running[waiting.pop(0)] = 0
        n = rng.choice(sorted(running))
        running[n] += 1
        level, slope = shape[n]
        events.append((n, running[n], level + slope * running[n] + rng.gauss(0, 0.02)))
        if running[n] == MAX_EPOCHS:
            del running[n]
    return events


def _decisions(
    events: list[tuple[int, int, float]], decide: Callable[[int, int, float], bool]
) -> list[tuple[int, int, bool]]:
    """Each result fed to ``decide`` (True: stop) until its trial is stopped."""
    stopped: set[int] = set()
    out = []
    for n, epoch, value in events:
        if n in stopped:
            continue
        stop = decide(n, epoch, value)
        out.append((n, epoch, stop))
        if stop:
            stopped.add(n)
    return out


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize(
    ("scheduler", "grace"), [("asha", 1), ("asha", 2), ("median", 1), ("median", 3)]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_pruner_decides_as_rays_scheduler(
    scheduler: str, grace: int, mode: str, seed: int
) -> None:
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    events = _stream(seed, trials=24, concurrent=3)
    ray = _ray_scheduler(scheduler, grace, mode)
    ray_trials = {n: Trial("t", config={}, trial_id=f"t{n:03d}", stub=True) for n in range(24)}
    history: dict[int, list[dict[str, float]]] = {}

    def ray_decides(n: int, epoch: int, value: float) -> bool:
        if n not in history:
            history[n] = []
            ray.on_trial_add(_Controller(), ray_trials[n])
        result = {"epoch": epoch, "score": value}
        action = ray.on_trial_result(_Controller(), ray_trials[n], result)
        # The last epoch ends the trial either way (Ray's ASHA says STOP there).
        return action == TrialScheduler.STOP and epoch < MAX_EPOCHS

    config = SearchConfig(scheduler=scheduler, max_epochs=MAX_EPOCHS, grace_period=grace)
    study = optuna.create_study(
        direction="maximize" if mode == "max" else "minimize", pruner=build_pruner(config)
    )
    asked: dict[int, optuna.Trial] = {}

    def ours_decides(n: int, epoch: int, value: float) -> bool:
        while len(asked) <= n:  # trials start in number order, as a search asks them
            asked[len(asked)] = study.ask()
        trial = asked[n]
        assert trial.number == n
        trial.report(value, epoch)
        return epoch < MAX_EPOCHS and trial.should_prune()

    theirs = _decisions(events, ray_decides)
    ours = _decisions(events, ours_decides)
    assert ours == theirs
    assert any(stop for _, _, stop in ours)  # the stream makes them stop some
