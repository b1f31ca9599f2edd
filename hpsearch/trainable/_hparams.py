"""The hyperparameters a trial trains with, read from Tune's config dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

#: What the members of a pack (trials trained as one batched model) must share: the
#: architecture, the optimizer's kind, the batch size and the augmentation's kind. The
#: other fields are per member (learning rate, schedule, weight decay, momentum, nesterov,
#: dropout, embedding scale, augmentation strength, loss and its parameter, seed).
PACK_SHARED = (
    "optimizer",
    "hidden_sizes",
    "activation",
    "embedding",
    "batch_norm",
    "batch_size",
    "augmentation",
)


@dataclass(frozen=True)
class HParams:
    """One trial's hyperparameters, with a default for every knob.

    A space may return only the keys it tunes; the rest keep these defaults,
    so a user's three-line space still trains. The fields other than
    ``seed`` are ``hpsearch.spaces.SPACE_KEYS``, the keys a space may return
    (a test keeps them equal; this package may not import Optuna's side), and
    a space returning any other key is refused before the search starts.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    embedding: str = "none"
    embedding_scale: float = 0.1
    dropout: float = 0.0
    batch_norm: bool = False
    batch_size: int = 64
    augmentation: str = "none"
    augmentation_strength: float = 0.0
    loss: str | None = None  # None: the task's plain loss (cross-entropy or MSE)
    loss_param: float = 0.0
    seed: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HParams:
        """Pick the hyperparameters out of a Tune config dict.

        The config's other keys are hpsearch's own (``trial_number``, the
        trial's recorded Optuna parameters), not hyperparameters.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        if "hidden_sizes" in values:
            values["hidden_sizes"] = tuple(int(w) for w in values["hidden_sizes"])
        return cls(**values)

    def structure(self) -> tuple[Any, ...]:
        """The :data:`PACK_SHARED` values: trials with equal structures can share a pack."""
        return tuple(getattr(self, name) for name in PACK_SHARED)
