"""Numeric columns: median imputation, robust scaling and smooth clipping,
fitted on the training split.

One implementation for built-in datasets and users' tables alike, numpy only.
Each fitted column is a JSON-able "plan" that an exported model replays on
raw rows (:mod:`hpsearch.models._predictor`).

Scaling follows RealMLP (Holzmüller et al., 2024): centre on the median,
divide by the interquartile range, then ``z / sqrt(1 + (z / 3)^2)``, which
leaves typical values almost unchanged and squeezes outliers into (-3, 3),
so one extreme row cannot dominate a batch (standardization lets it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpsearch.errors import UserError

#: Where smooth clipping bends: scaled values end up in (-CLIP, CLIP).
CLIP = 3.0
_TINY = float(np.finfo(np.float32).tiny)  # a spread below it scales like a constant


def _robust_scale(present: np.ndarray, std: float) -> float:
    """The interquartile range; half the range when the quartiles agree; else 1."""
    q1, q3 = np.quantile(present, [0.25, 0.75])
    for spread in (q3 - q1, (present.max() - present.min()) / 2.0, std):
        if math.isfinite(spread) and spread >= _TINY:
            return float(spread)
    return 1.0


def numeric_plan(train_column: np.ndarray, name: str, has_gaps: bool) -> dict[str, Any]:
    """How one numeric column is imputed and scaled, from its training values (NaN = missing).

    ``center``/``scale``/``clip`` are what :func:`scale_numeric` applies;
    ``mean`` and ``std`` (after imputation) are kept for image pixels, which
    share one plain standardization (no clipping).

    Statistics from the validation or test rows would leak them into
    training and make the held-out score optimistic, so only train is used.
    """
    present = train_column[~np.isnan(train_column)]
    if present.size == 0:
        raise UserError(f"feature column {name!r} has no values in the training split")
    median = float(np.median(present))
    n_missing = train_column.size - present.size
    # Statistics after imputation, as the model will see the column.
    mean = (float(present.sum(dtype=np.float64)) + n_missing * median) / train_column.size
    sq = float(((present - mean) ** 2).sum(dtype=np.float64)) + n_missing * (median - mean) ** 2
    std = float(np.sqrt(sq / train_column.size))
    std = std if std >= _TINY else 1.0
    return {
        "name": name,
        "kind": "numeric",
        "median": median,
        "mean": mean,
        "std": std,
        "center": median,
        "scale": _robust_scale(present.astype(np.float64), std),
        "clip": CLIP,
        "indicator": has_gaps,
    }


def scale_numeric(
    arrays: list[np.ndarray], plans: list[dict[str, Any]], indicator_col: dict[str, int]
) -> None:
    """Impute (recording the gaps), scale and smooth-clip each numeric column in place.

    In float64, so a value near float32's limit cannot overflow on the way.
    """
    for j, plan in enumerate(plans):
        ind = indicator_col.get(plan["name"])
        for out in arrays:
            column = out[:, j]
            if ind is not None:
                missing = np.isnan(column)
                out[:, ind] = missing
                column[missing] = plan["median"]
            z = (column.astype(np.float64) - plan["center"]) / plan["scale"]
            if plan["clip"] > 0:
                z /= np.hypot(1.0, z / plan["clip"])  # hypot: no overflow for huge z
            column[:] = z


def stable_hash(value: str) -> int:
    """32-bit FNV-1a over the string's UTF-8 bytes.

    Stable across processes and machines (unlike ``hash()``), and simple
    enough to be replayed inside a TorchScript model on raw strings.
    """
    h = 2166136261
    for byte in value.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h
