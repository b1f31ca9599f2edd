"""Where the driver's scheduler tells each pack which of its members to stop.

A Ray actor of its own module, free of torch and Ray Tune, so its worker process
starts in a fraction of a second; the pack reads it through its handle alone.
"""

from __future__ import annotations

from typing import Any


class PackStops:
    """Which members of each pack the scheduler stopped, by the pack's Tune trial id:
    written by the scheduler before it lets the pack go on (a function trainable waits
    at each report until then), read by the pack right after its report returns."""

    def __init__(self) -> None:
        self._stopped: dict[str, set[int]] = {}

    def stop(self, trial_id: str, numbers: list[int]) -> None:
        """Members ``numbers`` of pack ``trial_id`` are to leave it."""
        self._stopped.setdefault(trial_id, set()).update(numbers)

    def stopped(self, trial_id: str) -> list[int]:
        """Every member of pack ``trial_id`` stopped so far (a restarted pack asks too)."""
        return sorted(self._stopped.get(trial_id, ()))


def start_pack_stops() -> Any:
    """A :class:`PackStops` actor for one search (it holds no CPU), on the driver's node:
    a lost worker node must not take it along; end it with ``ray.kill``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(num_cpus=0)(PackStops)
    return actor.options(scheduling_strategy=here).remote()
