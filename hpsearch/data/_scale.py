"""Numeric columns: median imputation and standardization, fitted on the training split.

One implementation for built-in datasets and users' tables alike, numpy only.
Each fitted column is a JSON-able "plan" that an exported model replays on
raw rows (:mod:`hpsearch.models._predictor`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpsearch.errors import UserError


def numeric_plan(train_column: np.ndarray, name: str, has_gaps: bool) -> dict[str, Any]:
    """Median, mean and std of one numeric column's training values (NaN = missing).

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
    std = float(np.sqrt(sq / train_column.size)) or 1.0
    return {
        "name": name,
        "kind": "numeric",
        "median": median,
        "mean": mean,
        "std": std,
        "indicator": has_gaps,
    }


def scale_numeric(
    arrays: list[np.ndarray], plans: list[dict[str, Any]], indicator_col: dict[str, int]
) -> None:
    """Impute (recording the gaps) and standardize each numeric column in place."""
    for j, plan in enumerate(plans):
        ind = indicator_col.get(plan["name"])
        for out in arrays:
            column = out[:, j]
            if ind is not None:
                missing = np.isnan(column)
                out[:, ind] = missing
                column[missing] = plan["median"]
            column -= plan["mean"]
            column /= plan["std"]


def stable_hash(value: str) -> int:
    """32-bit FNV-1a over the string's UTF-8 bytes.

    Stable across processes and machines (unlike ``hash()``), and simple
    enough to be replayed inside a TorchScript model on raw strings.
    """
    h = 2166136261
    for byte in value.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h
