"""What a search space may know about the problem it is searching for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class SpaceContext:
    """Facts about the dataset and the user's narrowing options.

    Spaces read ``task`` to offer only the losses that fit it, and
    ``options`` (validated by the space's own options model) to narrow their
    ranges and choices without code.
    """

    task: Literal["classification", "regression"] = "classification"
    num_features: int = 2
    #: Numeric columns among the features (0: none to embed, e.g. only categories).
    num_numeric: int = 2
    num_classes: int = 2
    input_shape: tuple[int, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
