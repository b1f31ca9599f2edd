"""Encoders fitted on the training split: numeric scaling and imputation, categorical codes.

Each fitted encoder is a plain JSON-able "plan" dict, recorded in
``TabularData.preprocessing`` so an exported model can replay it on raw rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hpsearch.data._scale import stable_hash

#: A categorical feature with at most this many training categories is one-hot encoded...
MAX_ONE_HOT = 32
#: ...beyond that, its values are hashed into this many one-hot buckets.
HASH_BUCKETS = 32


def as_strings(column: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """A string or dictionary column as plain strings."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.cast(column, pa.string())


def is_numeric(t: pa.DataType) -> bool:
    """Numbers, booleans, decimals, dates and times: one scaled column each."""
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_temporal(t)
    )


def is_categorical(t: pa.DataType) -> bool:
    """Strings and dictionaries of scalars: one-hot (or hashed) blocks."""
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or (pa.types.is_dictionary(t) and not is_nested(t.value_type))
    )


def is_nested(t: pa.DataType) -> bool:
    """Lists, structs and binary: not features."""
    return bool(pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def as_float(column: pa.ChunkedArray) -> np.ndarray:
    """float64 values with NaN for nulls (and for infinities, which no scaler survives)."""
    t = column.type
    if pa.types.is_temporal(t):
        column = (
            pc.cast(column, pa.int64())
            if not pa.types.is_date32(t)
            else pc.cast(pc.cast(column, pa.int32()), pa.int64())
        )
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


@dataclass
class Codes:
    """One categorical column as int32 codes into a growing dictionary (-1: null)."""

    codes: list[np.ndarray]
    values: dict[str, int]

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        encoded = pc.dictionary_encode(as_strings(column))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        local = [
            self.values.setdefault(str(v), len(self.values)) for v in encoded.dictionary.to_pylist()
        ]
        lookup = np.array([*local, -1], dtype=np.int32)
        idx = encoded.indices.fill_null(len(local)).to_numpy(zero_copy_only=False)
        self.codes.append(lookup[idx])


def categorical_plan(
    codes: np.ndarray, values: dict[str, int], train: np.ndarray, name: str
) -> dict[str, Any]:
    names = np.array(list(values), dtype=object)
    train_codes = np.unique(codes[train])
    categories = sorted(str(names[c]) for c in train_codes if c >= 0)
    missing = bool((codes < 0).any())
    if len(categories) <= MAX_ONE_HOT:
        return {"name": name, "kind": "onehot", "categories": categories, "indicator": missing}
    return {"name": name, "kind": "hash", "buckets": HASH_BUCKETS, "indicator": missing}


def column_names(plan: dict[str, Any]) -> list[str]:
    name = plan["name"]
    if plan["kind"] == "numeric":
        return [name]
    if plan["kind"] == "onehot":
        return [f"{name}={c}" for c in plan["categories"]]
    return [f"{name}#hash{i}" for i in range(plan["buckets"])]


def one_hot_lookup(plan: dict[str, Any], values: dict[str, int]) -> np.ndarray:
    """Global code -> column within the block (-1: no column), with a slot for null."""
    if plan["kind"] == "onehot":
        position = {c: i for i, c in enumerate(plan["categories"])}
        lookup = [position.get(v, -1) for v in values]
    else:
        lookup = [stable_hash(v) % plan["buckets"] for v in values]
    return np.array([*lookup, -1], dtype=np.int64)


def share_pixel_scale(plans: list[dict[str, Any]]) -> None:
    """One mean and std for all pixels, so shifting or rotating an image moves
    values that mean the same thing (per-pixel scaling would not)."""
    means = np.array([p["mean"] for p in plans])
    second = np.array([p["std"] ** 2 + p["mean"] ** 2 for p in plans])
    mean = float(means.mean())
    std = float(np.sqrt(max(second.mean() - mean**2, 0.0))) or 1.0
    for plan in plans:
        plan["mean"], plan["std"] = mean, std


def fill_categorical(
    arrays: list[np.ndarray],
    parts: tuple[np.ndarray, ...],
    plans: list[dict[str, Any]],
    codes: dict[str, np.ndarray],
    values: dict[str, dict[str, int]],
    first_col: int,
) -> None:
    """One one-hot (or hashed) block per categorical column, from pass 1's codes."""
    col = first_col
    for plan in plans:
        lookup = one_hot_lookup(plan, values[plan["name"]])
        size = len(column_names(plan))
        for part, out in zip(parts, arrays, strict=True):
            c = codes[plan["name"]][part]
            hit = lookup[np.where(c >= 0, c, -1)]
            rows_hit = np.flatnonzero(hit >= 0)
            out[rows_hit, col + hit[rows_hit]] = 1.0
            if plan["indicator"]:
                out[:, col + size] = c < 0
        col += size + int(plan["indicator"])
