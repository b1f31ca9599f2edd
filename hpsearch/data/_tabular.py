"""The prepared dataset every trial trains on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TabularData:
    """Train, validation and test splits as contiguous float32 arrays.

    Built once by the driver and put once into Ray's object store; numpy
    arrays come back from the store zero-copy, so every trial on a node reads
    the same memory.

    Targets are int64 class indices for classification and float32 values for
    regression. ``class_names`` maps an index back to the label it encodes.
    """

    name: str
    task: Task
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    input_shape: tuple[int, ...] | None = None
    #: How raw columns became features (fitted on train): what an exported model replays.
    preprocessing: dict[str, Any] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        """Width of one input row."""
        return int(self.x_train.shape[1])

    @property
    def num_numeric(self) -> int:
        """How many leading feature columns are numeric values (what a numeric
        embedding may embed); none for image pixels, whose neighbours carry the
        meaning. The rest are missing-value indicators and category blocks."""
        if self.input_shape is not None:
            return 0
        plans = self.preprocessing.get("columns")
        if plans is None:  # a hand-built dataset: every column is a number
            return self.num_features
        return sum(p["kind"] == "numeric" for p in plans)

    @property
    def num_classes(self) -> int:
        """Number of classes; 0 for regression."""
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """Width of the model's output layer."""
        return self.num_classes if self.task == "classification" else 1

    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}
