"""Which ingredients of the ``mlp`` space pay off: one fixed configuration, one change at a time.

    python benchmarks/ingredients.py [--tables a,b] [--seeds 0] [--epochs 100] [--json PATH]

No search and no Ray: each variant trains the same MLP (3 x 256, AdamW, batch 128) with
hpsearch's own training loop on the packaged tables of ``benchmarks/quality.py``, for
``--epochs`` epochs, keeping the best epoch on validation; its test score (accuracy or R^2)
is that epoch's. Each variant changes one thing from ``base``, so its mean gain over
``base`` (same split, same seed) is what that ingredient buys with everything else fixed.
``standardized`` swaps the input treatment back to plain standardization (median-centred,
divided by the std, no clipping) to measure robust scaling with smooth clipping.

Needs the ``bench`` extra (the tables' packages).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from benchmarks._tables import TABLES, prepare, split, split_labels
from hpsearch.data import TableSpec, TabularData, load_table
from hpsearch.data import _scale as scale_module
from hpsearch.trainable import HParams, TrainingRun, TrainSettings, score_splits

BASE = HParams(
    optimizer="adamw",
    lr=1e-3,
    weight_decay=1e-5,
    hidden_sizes=(256, 256, 256),
    activation="relu",
    batch_size=128,
)

#: Each variant: (what it changes, the change to BASE).
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "standardized": {},  # BASE on standardized inputs (see the module's docstring)
    "cosine": {"lr_schedule": "cosine", "lr": 2e-3},
    "periodic": {"embedding": "periodic", "embedding_scale": 0.1},
    "dropout": {"dropout": 0.15},
    "silu": {"activation": "silu"},
    "label_smoothing": {"loss": "label_smoothing", "loss_param": 0.1},
    "all": {
        "lr_schedule": "cosine",
        "lr": 2e-3,
        "embedding": "periodic",
        "embedding_scale": 0.1,
        "dropout": 0.15,
        "activation": "silu",
        "loss": "label_smoothing",
        "loss_param": 0.1,
    },
}


@contextmanager
def standardized() -> Iterator[None]:
    """hpsearch's numeric plans as plain standardization, for the length of the block."""
    clip, robust = scale_module.CLIP, scale_module._robust_scale
    scale_module.CLIP = 0.0
    scale_module._robust_scale = lambda present, std: std  # type: ignore[assignment]
    try:
        yield
    finally:
        scale_module.CLIP, scale_module._robust_scale = clip, robust


def load(name: str, seed: int, directory: str) -> TabularData:
    """The table with the benchmark's seed-``seed`` split, read by hpsearch as a user's file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = prepare(name)
    labels = split_labels(split(data, seed), len(data.y))
    frame = data.X.assign(**{data.y.name: data.y, "split": labels})
    path = os.path.join(directory, f"{name}-{seed}.parquet")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return load_table(TableSpec(path, str(data.y.name), split_column="split", task=data.task))


def train(data: TabularData, hp: HParams, epochs: int) -> dict[str, float]:
    """Best validation score over ``epochs`` and the test score of that epoch's weights."""
    metric = "val_accuracy" if data.task == "classification" else "val_r2"
    settings = TrainSettings(max_epochs=epochs, metric=metric, mode="max")
    run = TrainingRun(hp, data, settings)
    start = time.perf_counter()
    for _ in range(epochs):
        if run.step()["diverged"]:
            break
    if run.best_model is not None:
        run.model.load_state_dict(run.best_model)
    run.model.eval()
    state = {"target_scale": run.target_scale}
    scores = score_splits(run.model, state, data, ("test",))["test"]
    test = scores["test_accuracy" if data.task == "classification" else "test_r2"]
    return {
        "val": float(run.best_value or float("nan")),
        "test": float(test),
        "seconds": time.perf_counter() - start,
    }


def variant(name: str, data: TabularData, seed: int) -> HParams:
    """The variant's hyperparameters for this table (label smoothing only where it applies)."""
    change = dict(VARIANTS[name])
    if data.task == "regression" and change.get("loss") == "label_smoothing":
        change.pop("loss"), change.pop("loss_param")
    return dataclasses.replace(BASE, seed=seed, **change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--json", default=os.path.join(os.path.dirname(__file__), "ingredients.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        for table in args.tables.split(","):
            for seed in map(int, args.seeds.split(",")):
                data = load(table, seed, directory)
                with standardized():
                    std_data = load(table, seed, directory)
                for name in args.variants.split(","):
                    hp = variant(name, data, seed)
                    got = train(std_data if name == "standardized" else data, hp, args.epochs)
                    cells.append({"table": table, "seed": seed, "variant": name, **got})
                    print(
                        f"{table:14s} seed {seed} {name:16s} val {got['val']:.4f} "
                        f"test {got['test']:.4f} ({got['seconds']:.1f}s)",
                        flush=True,
                    )
    gains = {}
    for name in args.variants.split(","):
        diffs = [
            c["test"] - b["test"]
            for c in cells
            for b in cells
            if c["variant"] == name
            and b["variant"] == "base"
            and (c["table"], c["seed"]) == (b["table"], b["seed"])
        ]
        wins = sum(d > 0 for d in diffs)
        gains[name] = {"mean_test_gain": statistics.fmean(diffs), "wins": wins, "of": len(diffs)}
        print(
            f"{name:16s} mean test gain over base {gains[name]['mean_test_gain']:+.4f} "
            f"(better on {wins} of {len(diffs)})"
        )
    result = {
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, one thread",
        "date": date.today().isoformat(),
        "epochs": args.epochs,
        "base": dataclasses.asdict(BASE),
        "gains": gains,
        "cells": cells,
    }
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
