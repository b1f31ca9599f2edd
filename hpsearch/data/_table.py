"""A user's table -> :class:`TabularData`: target, task, split, encoding, scaling.

Every encoder is fitted on the training split only (means, medians,
categories), so the validation and test scores stay honest. The feature
matrix is built once, column by column, straight into the three float32
split arrays, and each Arrow column is released as soon as it is encoded:
the driver never holds a second full copy of the data.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hpsearch.data._read import open_table, read_columns
from hpsearch.data._split import split_indices
from hpsearch.data._tabular import TabularData, Task
from hpsearch.errors import UserError

#: A categorical feature with at most this many training categories is one-hot encoded...
MAX_ONE_HOT = 32
#: ...beyond that, its values are hashed into this many one-hot buckets.
HASH_BUCKETS = 32
#: An integer target with at most this many distinct values is taken as classes.
MAX_AUTO_CLASSES = 20
MAX_CLASSES = 1000
SPLIT_NAMES = {"train": 0, "val": 1, "validation": 1, "valid": 1, "test": 2}


@dataclass(frozen=True)
class TableSpec:
    """How to turn a table into training data (the data fields of SearchConfig)."""

    location: str
    target: str
    features: tuple[str, ...] | None = None
    task: Literal["auto", "classification", "regression"] = "auto"
    missing: Literal["impute", "error"] = "impute"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_column: str | None = None
    input_shape: tuple[int, ...] | None = None
    seed: int = 0


def _is_numeric(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_temporal(t)
    )


def _is_categorical(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or (pa.types.is_dictionary(t) and not _is_nested(t.value_type))
    )


def _is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _as_float(column: pa.ChunkedArray) -> np.ndarray:
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


def _as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.cast(column, pa.string())


def check_schema(schema: pa.Schema, spec: TableSpec) -> list[str]:
    """The feature columns to read, or a UserError for a bad column choice.

    Runs on the schema alone, before any row is read.
    """
    names = schema.names
    if spec.target not in names:
        raise UserError(
            f"target column {spec.target!r} not in the data", f"columns: {', '.join(names)}"
        )
    if spec.split_column is not None and spec.split_column not in names:
        raise UserError(
            f"split column {spec.split_column!r} not in the data", f"columns: {', '.join(names)}"
        )
    if spec.features is not None:
        unknown = [f for f in spec.features if f not in names]
        if unknown:
            raise UserError(
                f"feature column {unknown[0]!r} not in the data", f"columns: {', '.join(names)}"
            )
        if spec.target in spec.features:
            raise UserError(
                f"the target {spec.target!r} is also listed as a feature",
                "remove it from --features",
            )
        features = list(spec.features)
    else:
        features = [n for n in names if n not in (spec.target, spec.split_column)]
    if not features:
        raise UserError("no feature columns: the table holds only the target")
    for name in features:
        t = schema.field(name).type
        if not (_is_numeric(t) or _is_categorical(t)):
            raise UserError(
                f"feature column {name!r} has type {t}, which cannot be encoded",
                "drop it with --features, or flatten it to numbers or strings",
            )
    return features


def _target(column: pa.ChunkedArray, spec: TableSpec) -> tuple[Task, np.ndarray, tuple[str, ...]]:
    t = column.type
    stringy = _is_categorical(t) or pa.types.is_boolean(t)
    if spec.task == "auto":
        if stringy:
            task: Task = "classification"
        elif pa.types.is_integer(t):
            distinct = len(pc.unique(column))
            task = "classification" if distinct <= MAX_AUTO_CLASSES else "regression"
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            task = "regression"
        else:
            raise UserError(f"target column {spec.target!r} has type {t}, which cannot be learned")
    else:
        task = spec.task
    if task == "regression":
        if stringy:
            raise UserError(
                f"regression needs a numeric target, but {spec.target!r} holds {t}",
                "use --task classification",
            )
        return task, _as_float(column).astype(np.float32), ()
    if not (stringy or pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise UserError(f"target column {spec.target!r} has type {t}, which cannot be learned")
    labels = _as_strings(column) if stringy else column
    classes = pc.unique(labels).sort()
    if len(classes) < 2:
        raise UserError(
            f"the target {spec.target!r} has a single class ({classes[0].as_py()!r})",
            "a classifier needs at least two",
        )
    if len(classes) > MAX_CLASSES:
        raise UserError(
            f"the target {spec.target!r} has {len(classes)} classes (at most {MAX_CLASSES})",
            "use --task regression for a numeric target",
        )
    y = pc.index_in(labels, value_set=classes).to_numpy(zero_copy_only=False).astype(np.int64)
    return task, y, tuple(str(c.as_py()) for c in classes)


def _split(
    spec: TableSpec, y: np.ndarray, task: Task, split_col: pa.ChunkedArray | None
) -> tuple[np.ndarray, ...]:
    if split_col is not None:
        words = _as_strings(split_col).to_pylist()
        unknown = sorted({w for w in words if w not in SPLIT_NAMES}, key=str)
        if unknown:
            raise UserError(
                f"split column {spec.split_column!r} holds {unknown[0]!r}",
                "use train, val (or validation) and test",
            )
        codes = np.array([SPLIT_NAMES[w] for w in words])
        parts = tuple(np.flatnonzero(codes == k) for k in range(3))
    else:
        fractions = (
            1.0 - spec.val_fraction - spec.test_fraction,
            spec.val_fraction,
            spec.test_fraction,
        )
        parts = split_indices(y, fractions, spec.seed, stratify=task == "classification")
    if min(len(p) for p in parts) == 0 or len(parts[0]) < 2:
        sizes = ", ".join(
            f"{n} {len(p)}" for n, p in zip(("train", "val", "test"), parts, strict=True)
        )
        raise UserError(
            f"too few rows ({len(y)}) for the requested splits ({sizes})",
            "provide more rows or change --val-fraction/--test-fraction",
        )
    return parts


class _Matrix:
    """The three float32 split arrays, filled one encoded column block at a time."""

    def __init__(self, parts: tuple[np.ndarray, ...], width: int) -> None:
        self.parts = parts
        self.arrays = [np.zeros((len(p), width), dtype=np.float32) for p in parts]
        self.col = 0

    def put(self, values: np.ndarray) -> None:
        for rows, out in zip(self.parts, self.arrays, strict=True):
            out[:, self.col] = values[rows]
        self.col += 1

    def put_codes(self, codes: np.ndarray, width: int) -> None:
        """One-hot columns: ``codes`` is a column index per row, or -1 for none."""
        for rows, out in zip(self.parts, self.arrays, strict=True):
            c = codes[rows]
            hit = np.flatnonzero(c >= 0)
            out[hit, self.col + c[hit]] = 1.0
        self.col += width


def _numeric_plan(values: np.ndarray, train: np.ndarray, name: str) -> dict[str, Any]:
    train_values = values[train]
    if np.isnan(train_values).all():
        raise UserError(f"feature column {name!r} has no values in the training split")
    median = float(np.nanmedian(train_values))
    filled = np.where(np.isnan(train_values), median, train_values)
    std = float(filled.std()) or 1.0
    return {
        "name": name,
        "kind": "numeric",
        "median": median,
        "mean": float(filled.mean()),
        "std": std,
        "indicator": bool(np.isnan(values).any()),
    }


def _categorical_plan(strings: pa.ChunkedArray, train: np.ndarray, name: str) -> dict[str, Any]:
    train_values = pc.take(strings, pa.array(train))
    counts = pc.value_counts(pc.drop_null(train_values))
    categories = sorted(str(v) for v in counts.field("values").to_pylist())
    missing = strings.null_count > 0
    if len(categories) <= MAX_ONE_HOT:
        return {"name": name, "kind": "onehot", "categories": categories, "indicator": missing}
    return {"name": name, "kind": "hash", "buckets": HASH_BUCKETS, "indicator": missing}


def _width(plan: dict[str, Any]) -> int:
    base = {"numeric": 1, "onehot": len(plan.get("categories", ())), "hash": plan.get("buckets", 0)}
    return base[plan["kind"]] + int(plan["indicator"])


def _column_names(plan: dict[str, Any]) -> list[str]:
    name = plan["name"]
    if plan["kind"] == "numeric":
        names = [name]
    elif plan["kind"] == "onehot":
        names = [f"{name}={c}" for c in plan["categories"]]
    else:
        names = [f"{name}#hash{i}" for i in range(plan["buckets"])]
    return names + ([f"{name}:missing"] if plan["indicator"] else [])


def _encode(matrix: _Matrix, column: pa.ChunkedArray, plan: dict[str, Any]) -> None:
    if plan["kind"] == "numeric":
        values = _as_float(column)
        missing = np.isnan(values)
        values[missing] = plan["median"]
        matrix.put(((values - plan["mean"]) / plan["std"]).astype(np.float32))
        if plan["indicator"]:
            matrix.put(missing.astype(np.float32))
        return
    strings = _as_strings(column)
    encoded = pc.dictionary_encode(strings).combine_chunks()
    dictionary = [str(v) for v in encoded.dictionary.to_pylist()]
    if plan["kind"] == "onehot":
        position = {c: i for i, c in enumerate(plan["categories"])}
        lookup = np.array([position.get(v, -1) for v in dictionary] + [-1], dtype=np.int64)
        width = len(plan["categories"])
    else:
        # crc32 is stable across processes and machines, unlike hash().
        lookup = np.array(
            [zlib.crc32(v.encode()) % plan["buckets"] for v in dictionary] + [-1], dtype=np.int64
        )
        width = plan["buckets"]
    indices = encoded.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
    matrix.put_codes(lookup[indices], width)
    if plan["indicator"]:
        matrix.put(np.asarray(strings.is_null().to_numpy(zero_copy_only=False), dtype=np.float32))


def _share_pixel_scale(plans: list[dict[str, Any]]) -> None:
    """One mean and std for all pixels, so shifting or rotating an image moves
    values that mean the same thing (per-pixel scaling would not)."""
    means = np.array([p["mean"] for p in plans])
    second = np.array([p["std"] ** 2 + p["mean"] ** 2 for p in plans])
    mean = float(means.mean())
    std = float(np.sqrt(max(second.mean() - mean**2, 0.0))) or 1.0
    for plan in plans:
        plan["mean"], plan["std"] = mean, std


def load_table(spec: TableSpec) -> TabularData:
    """Read, check, split and encode the table described by ``spec``."""
    dataset = open_table(spec.location)
    features = check_schema(dataset.schema, spec)
    extra = [spec.split_column] if spec.split_column else []
    table = read_columns(dataset, [spec.target, *features, *extra], spec.location)
    if table.num_rows == 0:
        raise UserError(f"the data {spec.location!r} has no rows")
    target_col = table.column(spec.target)
    if target_col.null_count == len(target_col):
        raise UserError(f"the target {spec.target!r} holds only nulls")
    if target_col.null_count:
        # Rows without a label teach nothing and cannot be scored: drop them.
        table = table.filter(pc.is_valid(target_col))
        target_col = table.column(spec.target)
    if spec.missing == "error":
        for name in features:
            nulls = table.column(name).null_count
            if nulls:
                raise UserError(
                    f"feature column {name!r} has {nulls} missing values",
                    "impute them, or drop --missing error to impute with an indicator",
                )
    task, y, class_names = _target(target_col, spec)
    if task == "regression" and np.isnan(y).any():
        raise UserError(f"the target {spec.target!r} holds NaN or infinite values")
    parts = _split(spec, y, task, table.column(spec.split_column) if spec.split_column else None)

    columns = {name: table.column(name) for name in features}
    del table, target_col  # each Arrow column is freed as soon as it is encoded below
    plans = []
    for name in features:
        column = columns[name]
        if _is_numeric(column.type):
            plans.append(_numeric_plan(_as_float(column), parts[0], name))
        else:
            plans.append(_categorical_plan(_as_strings(column), parts[0], name))
    width = sum(_width(p) for p in plans)
    input_shape = spec.input_shape
    if input_shape is not None:
        pixels = int(np.prod(input_shape))
        if pixels != width or any(p["kind"] != "numeric" or p["indicator"] for p in plans):
            raise UserError(
                f"input shape {'x'.join(map(str, input_shape))} needs {pixels} numeric pixel "
                f"columns without missing values; the data gives {width} features",
                "list the pixel columns with --features",
            )
        _share_pixel_scale(plans)
    matrix = _Matrix(parts, width)
    for plan in plans:
        _encode(matrix, columns.pop(plan["name"]), plan)
    feature_names = tuple(n for p in plans for n in _column_names(p))

    x_train, x_val, x_test = matrix.arrays
    return TabularData(
        name=spec.location,
        task=task,
        x_train=x_train,
        y_train=np.ascontiguousarray(y[parts[0]]),
        x_val=x_val,
        y_val=np.ascontiguousarray(y[parts[1]]),
        x_test=x_test,
        y_test=np.ascontiguousarray(y[parts[2]]),
        feature_names=feature_names,
        class_names=class_names,
        input_shape=input_shape,
        preprocessing={"target": spec.target, "columns": plans},
    )
