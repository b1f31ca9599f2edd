"""Predictions for a table of raw rows, from an experiment's best model or an exported one."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from hpsearch.data import (
    DOMAINS,
    as_float,
    as_strings,
    is_categorical,
    is_numeric,
    iter_batches,
    numeric_domain,
    open_table,
)
from hpsearch.errors import UserError
from hpsearch.experiments import check_table_path, load_experiment, write_table
from hpsearch.models._export import final_predictor
from hpsearch.models._predictor import load_predictor

#: Rows scored at once: bounds memory on large tables.
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Prediction:
    """What ``predict`` wrote and, when the table held the target, how good it was."""

    path: str
    rows: int
    score: dict[str, float]


def open_model(
    source: str, root: str | None = None
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """An exported ``model.pt``, or the final model of the experiment ``source``."""
    if os.path.isfile(source):
        try:
            model, metadata = load_predictor(source)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"{source} is not a model exported by hpsearch ({first})",
                "export one with `hpsearch export-model EXP -o model.pt`",
            ) from None
        if "numeric_columns" not in metadata:
            raise UserError(f"{source} is a TorchScript file, but not one hpsearch exported")
        return model, metadata
    return final_predictor(load_experiment(source, root))


def _check_columns(schema: pa.Schema, metadata: dict[str, Any], keep: tuple[str, ...]) -> None:
    names = set(schema.names)
    needed = [*metadata["numeric_columns"], *metadata["categorical_columns"], *keep]
    missing = [n for n in needed if n not in names]
    if missing:
        raise UserError(
            f"the data lacks column(s) {', '.join(map(repr, missing))} the model needs",
            f"it has: {', '.join(schema.names)}",
        )
    plans = {p["name"]: p for p in metadata.get("preprocessing", {}).get("columns", [])}
    for name in metadata["numeric_columns"]:
        t = schema.field(name).type
        # Models from before domains were recorded (and built-in datasets) saw numbers.
        trained = plans.get(name, {}).get("domain", "number")
        # The same conversion as in training (as_float) must give the same meaning:
        # seconds since 1970 fed to a feature trained on plain numbers would not.
        if not pa.types.is_null(t) and numeric_domain(t) != trained:
            meaning = DOMAINS.get(trained, trained)
            raise UserError(
                f"column {name!r} holds {t}, but the model was trained on {meaning}",
                "convert the column to the type it had in training",
            )
    for name in metadata["categorical_columns"]:
        t = schema.field(name).type
        if not (is_categorical(t) or is_numeric(t) or pa.types.is_null(t)):
            raise UserError(f"column {name!r} holds {t}, which cannot be read as categories")
    target = metadata.get("target")
    if target in names:  # scored when present: values, or labels, it must be able to hold
        t = schema.field(target).type
        usable = is_numeric(t) or (metadata["task"] == "classification" and is_categorical(t))
        if not (usable or pa.types.is_null(t)):
            raise UserError(
                f"the target column {target!r} holds {t}, which cannot be scored",
                "drop it from the data to predict without a score",
            )


def _inputs(
    batch: pa.RecordBatch, metadata: dict[str, Any]
) -> tuple[dict[str, torch.Tensor], dict[str, list[str | None]]]:
    numeric = {
        name: torch.from_numpy(as_float(pa.chunked_array([batch.column(name)])))
        for name in metadata["numeric_columns"]
    }
    categorical = {
        name: as_strings(pa.chunked_array([batch.column(name)])).to_pylist()
        for name in metadata["categorical_columns"]
    }
    return numeric, categorical


def predict_table(
    source: str, data: str, output: str, keep: tuple[str, ...] = (), root: str | None = None
) -> Prediction:
    """Score every row of the table ``data`` and write the predictions to ``output``.

    Columns written: the ``keep`` columns as they were, ``prediction`` (the
    class name, or the value in the target's units) and, for classification,
    ``probability_<class>`` per class. If the table holds the target column,
    the score on it is returned too. Everything is checked before scoring.
    """
    check_table_path(output)
    dataset = open_table(data)
    model, metadata = open_model(source, root)
    _check_columns(dataset.schema, metadata, keep)
    target = metadata.get("target")
    has_target = bool(target) and target in dataset.schema.names
    classes = list(metadata.get("class_names", []))
    outputs = ["prediction"]
    if metadata["task"] == "classification":
        outputs += [f"probability_{name}" for name in classes]
    clash = [name for name in keep if name in outputs]
    if clash:  # the kept column would be silently replaced by the output's
        raise UserError(
            f"cannot --keep column {clash[0]!r}: the predictions have a column of that name",
            "rename that column in the data, or keep another one",
        )
    columns = list(
        dict.fromkeys(
            [*metadata["numeric_columns"], *metadata["categorical_columns"], *keep]
            + ([target] if has_target else [])
        )
    )
    parts: list[pa.Table] = []
    hits, squared, counted = 0, 0.0, 0
    with torch.inference_mode():
        for batch in iter_batches(dataset, columns, data):
            numeric, categorical = _inputs(batch, metadata)
            out = model(numeric, categorical).numpy()
            cols: dict[str, pa.Array] = {name: batch.column(name) for name in keep}
            if metadata["task"] == "classification":
                labels = np.asarray(classes, dtype=object)[out.argmax(axis=1)]
                cols["prediction"] = pa.array(labels.tolist(), pa.string())
                for j, name in enumerate(classes):
                    cols[f"probability_{name}"] = pa.array(out[:, j], pa.float32())
                if has_target:
                    truth = batch.column(target).cast(pa.string()).to_pylist()
                    known = [(t, p) for t, p in zip(truth, labels, strict=True) if t is not None]
                    hits += sum(t == p for t, p in known)
                    counted += len(known)
            else:
                cols["prediction"] = pa.array(out.astype(np.float64), pa.float64())
                if has_target:
                    truth_np = as_float(batch.column(target))  # as in training: no cast errors
                    ok = np.isfinite(truth_np)
                    squared += float(((truth_np[ok] - out[ok]) ** 2).sum())
                    counted += int(ok.sum())
            parts.append(pa.table(cols))
    table = (
        pa.concat_tables(parts)
        if parts
        else pa.table({"prediction": pa.array([], pa.string() if classes else pa.float64())})
    )
    write_table(table, output)
    score: dict[str, float] = {}
    if counted:
        if metadata["task"] == "classification":
            score = {"accuracy": hits / counted}
        else:
            score = {"rmse": math.sqrt(squared / counted)}
    return Prediction(path=output, rows=table.num_rows, score=score)
