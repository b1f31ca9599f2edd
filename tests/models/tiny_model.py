"""A tiny exported model, saved the way ``export-model`` saves one, without a search.

A linear classifier on ``x`` (numeric) and ``town`` (hashed): x > 0 gives
``HOSTILE[0]``, x < 0 ``HOSTILE[1]``; class names a spreadsheet would run as formulas.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hpsearch.data._encode import HASH_BUCKETS
from hpsearch.models._predictor import build_predictor, save_predictor

#: Class names a spreadsheet would run as formulas.
HOSTILE = ['=HYPERLINK("http://evil.example","click")', "-2+3"]
TOWN = {"name": "town", "kind": "hash", "buckets": HASH_BUCKETS, "indicator": True}


def save_model(path: Path) -> Path:
    """Write the model to ``path`` (a TorchScript archive with hpsearch's metadata)."""
    x = {"name": "x", "kind": "numeric", "median": 0.0, "mean": 0.0, "std": 1.0}
    plans = [{**x, "indicator": False}, TOWN]
    mlp = nn.Linear(1 + HASH_BUCKETS + 1, 2)
    with torch.no_grad():
        mlp.weight.zero_()
        mlp.bias.zero_()
        mlp.weight[0, 0], mlp.weight[1, 0] = 1.0, -1.0
    record = {
        "task": "classification",
        "class_names": HOSTILE,
        "preprocessing": {"columns": plans, "target": "label"},
    }
    metadata = {**record, "target": "label", "numeric_columns": ["x"]}
    metadata["categorical_columns"] = ["town"]
    save_predictor(build_predictor(mlp, record, (0.0, 1.0)), str(path), metadata)
    return path
