"""Metric names, their directions, and the one way to compare and show a value.

Imports nothing heavy: the config, the training loop, the search and the
inspection commands all read the same table, so a metric is named, ranked and
printed the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeGuard

Mode = Literal["min", "max"]

#: Validation metrics each task reports every epoch, with their direction; the
#: first is the default search metric. ``train_loss`` is reported too.
TASK_METRICS: dict[str, dict[str, Mode]] = {
    "classification": {"val_accuracy": "max", "val_loss": "min", "train_loss": "min"},
    "regression": {"val_rmse": "min", "val_r2": "max", "val_loss": "min", "train_loss": "min"},
}

_LOWER_IS_BETTER = ("loss", "rmse", "_s", "_ms", "num_params")


def metric_mode(metric: str) -> Mode:
    """``min`` for losses, errors, times and sizes; ``max`` for scores."""
    for metrics in TASK_METRICS.values():
        if metric in metrics:
            return metrics[metric]
    return "min" if metric.endswith(_LOWER_IS_BETTER) else "max"


def is_finite(value: Any) -> TypeGuard[int | float]:
    """Whether ``value`` is a real, finite number (``True`` is not a score)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:  # an int too large for a float (JSON has them) is no score
        return math.isfinite(float(value))
    except OverflowError:
        return False


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (``None``: nothing yet) when ``mode``-imizing."""
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def best_score(
    rows: Iterable[Mapping[str, Any]], metric: str, mode: str
) -> tuple[float | None, int]:
    """The best finite ``metric`` over per-epoch ``rows`` and its epoch (first wins ties);
    ``(None, 0)`` when no row has one."""
    best: float | None = None
    epoch = 0
    for row in rows:
        value = row.get(metric)
        if is_finite(value) and is_better(float(value), best, mode):
            best, epoch = float(value), int(row.get("epoch", 0))
    return best, epoch


def format_score(value: float | None) -> str:
    """A metric's value in a sentence: 4 decimals (``0.9975``), ``-`` for nothing."""
    return "-" if value is None else f"{value:.4f}"


def format_value(value: Any) -> str:
    """A value as a table cell or a report shows it: floats to 4 significant
    digits, ``-`` for nothing, lists item by item."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)
