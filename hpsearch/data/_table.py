"""A user's table -> :class:`TabularData`: target, task, split, encoding, scaling.

Every encoder is fitted on the training split only (means, medians,
categories), so the validation and test scores stay honest.

The table is streamed twice, one record batch at a time, and never held
whole: the first pass reads the target, the categorical columns' codes and
the numeric columns' gaps, which fixes the split and the exact width of the
feature matrix; the second writes raw numeric values straight into the three
preallocated float32 split arrays, which are then imputed and standardized
in place. The driver's peak memory is about one feature matrix plus a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hpsearch.data._encode import (
    FLOAT_LIMIT,
    Codes,
    as_float,
    as_strings,
    categorical_plan,
    column_names,
    fill_categorical,
    is_categorical,
    is_numeric,
    numeric_domain,
    share_pixel_scale,
)
from hpsearch.data._read import is_columnar, iter_batches, open_table, release_unused_memory
from hpsearch.data._scale import numeric_plan, scale_numeric
from hpsearch.data._split import split_indices
from hpsearch.data._tabular import TabularData, Task
from hpsearch.errors import UserError

#: An integer target with at most this many distinct values is taken as classes.
MAX_AUTO_CLASSES = 20
MAX_CLASSES = 1000
#: Numeric columns decoded together in the second pass over a columnar file.
_COLUMN_GROUP = 8
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
    if spec.split_column is not None:
        t = schema.field(spec.split_column).type
        if not is_categorical(t):
            raise UserError(
                f"split column {spec.split_column!r} has type {t}",
                "it must hold the strings train, val (or validation) and test",
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
        if pa.types.is_null(t):
            raise UserError(
                f"feature column {name!r} holds only nulls (type null)",
                "drop it with --features",
            )
        if not (is_numeric(t) or is_categorical(t)):
            raise UserError(
                f"feature column {name!r} has type {t}, which cannot be encoded",
                "drop it with --features, or flatten it to numbers or strings",
            )
    return features


def _target(column: pa.ChunkedArray, spec: TableSpec) -> tuple[Task, np.ndarray, tuple[str, ...]]:
    t = column.type
    stringy = is_categorical(t) or pa.types.is_boolean(t)
    if spec.task == "auto":
        if stringy:
            task: Task = "classification"
        elif pa.types.is_integer(t):
            distinct = len(pc.unique(column))
            task = "classification" if distinct <= MAX_AUTO_CLASSES else "regression"
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            task = "regression"
        elif is_numeric(t):
            raise UserError(
                f"target column {spec.target!r} has type {t}",
                "use --task regression to predict it in seconds",
            )
        else:
            raise UserError(f"target column {spec.target!r} has type {t}, which cannot be learned")
    else:
        task = spec.task
    if task == "regression":
        if not is_numeric(t) or pa.types.is_boolean(t):
            raise UserError(
                f"regression needs a numeric target, but {spec.target!r} holds {t}",
                "use --task classification" if stringy else "convert it to numbers",
            )
        return task, as_float(column).astype(np.float32), ()
    if not (stringy or pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise UserError(f"target column {spec.target!r} has type {t}, which cannot be learned")
    labels = as_strings(column) if stringy else column
    if pa.types.is_float16(t):  # pyarrow sorts no half floats
        labels = pc.cast(labels, pa.float32())
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
        words = as_strings(split_col).to_pylist()
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


def _first_pass(
    dataset: Any, spec: TableSpec, numeric: list[str], categorical: list[str]
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None, dict[str, int], dict[str, Codes], int]:
    """Target, split labels, gaps per numeric column, codes per categorical column."""
    columns = [spec.target, *numeric, *categorical] + (
        [spec.split_column] if spec.split_column else []
    )
    targets, splits = [], []
    gaps = dict.fromkeys(numeric, 0)
    codes = {name: Codes([], {}) for name in categorical}
    rows = 0
    for batch in iter_batches(dataset, columns, spec.location):
        rows += batch.num_rows
        targets.append(batch.column(spec.target))
        if spec.split_column:
            splits.append(batch.column(spec.split_column))
        for name in numeric:
            gaps[name] += int(np.isnan(as_float(batch.column(name))).sum())
        for name in categorical:
            codes[name].add(batch.column(name))
    target = pa.chunked_array(targets, type=dataset.schema.field(spec.target).type)
    split = (
        pa.chunked_array(splits, type=dataset.schema.field(spec.split_column).type)
        if spec.split_column
        else None
    )
    return target, split, gaps, codes, rows


def _fill_numeric(
    dataset: Any,
    spec: TableSpec,
    numeric: list[str],
    arrays: list[np.ndarray],
    split_of: np.ndarray,
    position: np.ndarray,
) -> None:
    """Pass 2: raw numeric values straight into their rows of the split arrays.

    Columnar files are scanned a few columns at a time (decoding 50 columns
    of a row group at once held 1.5x the finished matrix; 8 at a time,
    0.4x); a CSV is parsed once.
    """
    step = _COLUMN_GROUP if is_columnar(dataset) else max(len(numeric), 1)
    for first in range(0, len(numeric), step):
        group = numeric[first : first + step]
        start = 0
        for batch in iter_batches(dataset, group, spec.location):
            stop = start + batch.num_rows
            block = np.empty((batch.num_rows, len(group)), dtype=np.float32)
            for j, name in enumerate(group):
                block[:, j] = as_float(batch.column(name))
            dest, pos = split_of[start:stop], position[start:stop]
            for k, out in enumerate(arrays):
                rows_k = np.flatnonzero(dest == k)
                out[pos[rows_k], first : first + len(group)] = block[rows_k]
            start = stop
    release_unused_memory()


def _numeric_plan(
    train_column: np.ndarray, name: str, has_gaps: bool, schema: pa.Schema
) -> dict[str, Any]:
    """The column's scaling, fitted in float64 (float32 squares overflow past ~1.8e19),
    and its domain, which ``predict`` checks a column against."""
    plan = numeric_plan(train_column.astype(np.float64), name, has_gaps)
    plan["domain"] = numeric_domain(schema.field(name).type)
    return plan


def load_table(spec: TableSpec) -> TabularData:
    """Read, check, split and encode the table described by ``spec``."""
    dataset = open_table(spec.location)
    features = check_schema(dataset.schema, spec)
    numeric = [f for f in features if is_numeric(dataset.schema.field(f).type)]
    categorical = [f for f in features if f not in numeric]

    # Pass 1: everything that decides the split and the matrix's width.
    target, split_col, gaps, codes, rows = _first_pass(dataset, spec, numeric, categorical)
    release_unused_memory()
    if rows == 0:
        raise UserError(f"the data {spec.location!r} has no rows")
    if target.null_count == len(target):
        raise UserError(f"the target {spec.target!r} holds only nulls")
    all_codes = {name: np.concatenate(c.codes) for name, c in codes.items()}
    if spec.missing == "error":
        _refuse_missing(features, gaps, all_codes)
    target, split_col, kept = _labelled(target, split_col)
    task, y, class_names = _target(target, spec)
    if task == "regression" and np.isnan(y).any():
        raise UserError(
            f"the target {spec.target!r} holds NaN, infinite or out-of-range values",
            f"make them null to drop those rows (beyond ±{FLOAT_LIMIT:g} is out of range)",
        )
    parts = _split(spec, y, task, split_col)
    split_of, position = _placement(parts, kept, rows)

    # Pass 2: the matrices, numeric columns read once more, batch by batch.
    kept_codes = {name: all_codes[name][kept] for name in categorical}
    cat_plans = [categorical_plan(kept_codes[n], codes[n].values, parts[0], n) for n in categorical]
    indicated = [n for n in numeric if gaps[n]]
    feature_names = _feature_names(numeric, indicated, cat_plans)
    _check_input_shape(spec, len(feature_names), bool(categorical or indicated))
    arrays = [np.zeros((len(p), len(feature_names)), dtype=np.float32) for p in parts]
    _fill_numeric(dataset, spec, numeric, arrays, split_of, position)
    num_plans = [
        _numeric_plan(arrays[0][:, j], name, gaps[name] > 0, dataset.schema)
        for j, name in enumerate(numeric)
    ]
    if spec.input_shape is not None:
        share_pixel_scale(num_plans)
    scale_numeric(arrays, num_plans, {n: len(numeric) + i for i, n in enumerate(indicated)})
    values = {name: c.values for name, c in codes.items()}
    fill_categorical(arrays, parts, cat_plans, kept_codes, values, len(numeric) + len(indicated))

    x_train, x_val, x_test = arrays
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
        input_shape=spec.input_shape,
        preprocessing={"target": spec.target, "columns": num_plans + cat_plans},
    )


def _refuse_missing(
    features: list[str], gaps: dict[str, int], all_codes: dict[str, np.ndarray]
) -> None:
    """``--missing error``: the first feature with a missing value stops the search."""
    for name in features:
        count = gaps[name] if name in gaps else int((all_codes[name] < 0).sum())
        if count:
            raise UserError(
                f"feature column {name!r} has {count} missing values",
                "impute them, or drop --missing error to impute with an indicator",
            )


def _labelled(
    target: pa.ChunkedArray, split_col: pa.ChunkedArray | None
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None, np.ndarray]:
    """The rows with a label (the others teach nothing and cannot be scored): the target
    and split column without the others, and the kept rows' original positions."""
    labelled = np.asarray(target.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    kept = np.flatnonzero(labelled)
    if len(kept) < len(labelled):
        target = pc.filter(target, pa.array(labelled))
        split_col = pc.filter(split_col, pa.array(labelled)) if split_col is not None else None
    return target, split_col, kept


def _placement(
    parts: tuple[np.ndarray, ...], kept: np.ndarray, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each original row goes: its split (-1 if dropped) and its position there."""
    split_of = np.full(rows, -1, dtype=np.int8)
    position = np.zeros(rows, dtype=np.int64)
    for k, part in enumerate(parts):
        split_of[kept[part]] = k
        position[kept[part]] = np.arange(len(part))
    return split_of, position


def _feature_names(
    numeric: list[str], indicated: list[str], cat_plans: list[dict[str, Any]]
) -> tuple[str, ...]:
    """The matrix's columns: numeric ones, their missing indicators, then one block
    per categorical (its codes, and its own indicator if it has gaps)."""
    return (
        *numeric,
        *(f"{n}:missing" for n in indicated),
        *(
            name
            for p in cat_plans
            for name in [*column_names(p), *([f"{p['name']}:missing"] if p["indicator"] else [])]
        ),
    )


def _check_input_shape(spec: TableSpec, width: int, extra_columns: bool) -> None:
    """Image features: exactly the pixels, numeric, without gaps."""
    if spec.input_shape is None:
        return
    pixels = int(np.prod(spec.input_shape))
    if pixels != width or extra_columns:
        raise UserError(
            f"input shape {'x'.join(map(str, spec.input_shape))} needs {pixels} numeric "
            f"pixel columns without missing values; the data gives {width} features",
            "list the pixel columns with --features",
        )
