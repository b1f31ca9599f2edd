"""Per-search training settings shared by every trial (not hyperparameters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrainSettings:
    """What every trial of one search shares: budget, metric, resources, checkpoints,
    and whether to measure latency."""

    max_epochs: int
    metric: str
    mode: Literal["min", "max"]
    checkpoint_every: int = 5
    #: Extra epochs to checkpoint at: where the scheduler may stop or pause the trial.
    checkpoint_epochs: frozenset[int] = frozenset()
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    #: Report the model's CPU inference latency (an objective or a constraint names it).
    measure_latency: bool = False

    def checkpoints_at(self, epoch: int) -> bool:
        """Whether the trial writes a checkpoint after ``epoch``."""
        return (
            epoch % self.checkpoint_every == 0
            or epoch in self.checkpoint_epochs
            or epoch == self.max_epochs
        )
