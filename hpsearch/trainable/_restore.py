"""Rebuilding a trial's best model from its checkpoint and scoring it on any split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpsearch.data import TabularData
from hpsearch.trainable._checkpoint import load_state
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._loop import as_tensor
from hpsearch.trainable._metrics import evaluate
from hpsearch.trainable._model import build_mlp


def model_from_checkpoint(
    directory: str | Path, num_features: int, num_outputs: int
) -> tuple[nn.Module, dict[str, Any]]:
    """A trial's best-so-far weights (by its search metric) in a fresh model.

    Returns the model (on the CPU, in eval mode) and the checkpoint's state
    for its bookkeeping (``best.epoch``, ``target_scale``).
    """
    state = load_state(directory)
    hp = HParams.from_config(state["hparams"])
    model = build_mlp(num_features, num_outputs, hp, int(state.get("embedded", 0)))
    weights = state["best"]["model"] or state["model"]
    model.load_state_dict(weights)
    model.eval()
    return model, state


def score_splits(
    model: nn.Module, state: dict[str, Any], data: TabularData, splits: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Metrics of ``model`` on each named split (``val``, ``test``) of ``data``."""
    mean, std = state["target_scale"]
    device = torch.device("cpu")
    out = {}
    for split in splits:
        x = as_tensor(getattr(data, f"x_{split}"), device)
        y = as_tensor(getattr(data, f"y_{split}"), device)
        if data.task == "regression":
            y = (y - mean) / std
        out[split] = evaluate(model, x, y, data.task, split, (mean, std))
    return out
