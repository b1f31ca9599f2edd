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


#: Magnitudes beyond this count as missing: the features are float32 (largest
#: ~3.4e38), and standardizing must not overflow on the way (x - mean <= 2e38).
FLOAT_LIMIT = 1e38

#: Ticks per second of a temporal type's unit (date32 counts days, date64 ms).
_TICKS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}

#: What a numeric column's values mean, by domain (recorded in its plan).
DOMAINS = {
    "number": "numbers",
    "datetime": "dates or timestamps (seconds since 1970-01-01 UTC)",
    "time": "times of day (seconds since midnight)",
    "duration": "durations (seconds)",
}


def _is_string_view(t: pa.DataType) -> bool:
    # pyarrow < 16 has no view types.
    check = getattr(pa.types, "is_string_view", None)
    return bool(check is not None and check(t))


def as_strings(column: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """A string, dictionary or numeric column as plain strings."""
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.cast(column, pa.string())


def numeric_domain(t: pa.DataType) -> str | None:
    """``number``, ``datetime``, ``time`` or ``duration``; None if ``t`` is not numeric.

    Intervals (months, days and nanoseconds at once) have no single length: not numeric.
    """
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
    ):
        return "number"
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_duration(t):
        return "duration"
    return None


def is_numeric(t: pa.DataType) -> bool:
    """Numbers, booleans, decimals, dates, timestamps, times, durations: one scaled column each."""
    return numeric_domain(t) is not None


def is_text(t: pa.DataType) -> bool:
    """Strings of any layout: plain, large or view."""
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(t))


def is_categorical(t: pa.DataType) -> bool:
    """Strings, and dictionaries of strings or numbers: one-hot (or hashed) blocks.

    Binary, nested (list, struct, map), interval and null columns are neither
    this nor numeric: refused as features.
    """
    if pa.types.is_dictionary(t):
        return is_text(t.value_type) or is_numeric(t.value_type)
    return is_text(t)


def _seconds(ticks: np.ndarray, t: pa.DataType) -> np.ndarray:
    """A temporal column's ticks in seconds (whole seconds stay exact)."""
    if pa.types.is_date32(t):
        return ticks * 86400.0
    return ticks / _TICKS_PER_SECOND["ms" if pa.types.is_date64(t) else t.unit]


def as_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """float64 values of a numeric column, NaN where missing or out of range.

    The one conversion used at training and at prediction time, so a value
    always becomes the same feature: numbers as they are (integers beyond
    2**53 rounded), booleans as 0/1, and every temporal type in seconds,
    whatever its unit or time zone (timestamps as UTC instants). Nulls,
    infinities and magnitudes beyond :data:`FLOAT_LIMIT` become NaN.
    """
    t = column.type
    domain = numeric_domain(t)
    if pa.types.is_null(t):
        return np.full(len(column), np.nan)
    if domain is None:
        raise TypeError(f"not a numeric column: {t}")
    if domain == "number":
        values = _to_numpy(pc.cast(column, pa.float64(), safe=False))
    else:
        ticks = column
        if pa.types.is_date32(t) or pa.types.is_time32(t):
            ticks = pc.cast(column, pa.int32())  # no direct cast from these to int64
        ticks = pc.cast(ticks, pa.int64())
        values = _seconds(_to_numpy(pc.cast(ticks, pa.float64(), safe=False)), t)
    with np.errstate(invalid="ignore"):
        values[~(np.abs(values) <= FLOAT_LIMIT)] = np.nan
    return values


def _to_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A float64 column as a writable numpy array, NaN for nulls."""
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return values if values.flags.writeable else values.copy()


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
        # Plain standardization: clipping bright pixels would erase what they draw.
        plan["center"], plan["scale"], plan["clip"] = mean, std, 0.0


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
