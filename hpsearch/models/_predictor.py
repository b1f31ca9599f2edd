"""The best model as one TorchScript file: raw columns in, predictions out.

The archive replays the search's preprocessing (median imputation,
robust scaling with smooth clipping, one-hot or hashed categories, missing-value indicators)
before the MLP, and maps outputs back to class names or target units, so
it needs only torch to load and no hpsearch:

    >>> model = torch.jit.load("model.pt")  # doctest: +SKIP
    >>> model.labels({"age": torch.tensor([31.0, float("nan")])}, {"city": ["Oslo", None]})
    ['yes', 'no']
"""

# No `from __future__ import annotations`: TorchScript reads real annotation objects.
import json
from typing import Any

import torch
from torch import Tensor, nn

#: Extra file inside the archive with what the model is (task, columns, classes, search).
METADATA_FILE = "hpsearch.json"
F64 = torch.float64


def _fnv1a(value: str) -> int:
    # hpsearch.data.stable_hash in TorchScript, where len(), slices and list()
    # of a str work on its UTF-8 bytes (eager Python would use code points:
    # always script this). value[i] copies the whole string, so a loop over it
    # is quadratic; list() splits a slice into one-byte strings in one pass,
    # and at most 64 slices (each one copy) keep the cost linear in bytes.
    h = 2166136261
    size = len(value)
    step = max(65536, size // 64 + 1)
    for start in range(0, size, step):
        for byte in list(value[start : start + step]):
            h = ((h ^ ord(byte)) * 16777619) & 0xFFFFFFFF
    return h


class Preprocess(nn.Module):
    """Raw columns -> the feature matrix the MLP was trained on (the search's layout)."""

    # Declared on the class: TorchScript cannot infer an empty list's type.
    numeric_columns: list[str]
    numeric_indicator: list[bool]
    categorical_columns: list[str]
    hashed: list[bool]
    block_width: list[int]
    positions: list[dict[str, int]]
    categorical_indicator: list[bool]
    width: int
    median: Tensor
    center: Tensor
    scale: Tensor
    clip: Tensor

    def __init__(self, plans: list[dict[str, Any]]) -> None:
        super().__init__()
        numeric = [p for p in plans if p["kind"] == "numeric"]
        categorical = [p for p in plans if p["kind"] != "numeric"]
        self.numeric_columns = [p["name"] for p in numeric]
        self.numeric_indicator = [bool(p["indicator"]) for p in numeric]
        self.register_buffer("median", torch.tensor([p["median"] for p in numeric]))
        # float64: the search scaled in float64, so values near float32's limit agree.
        # Plans written before robust scaling (no "center") standardized, unclipped.
        self.register_buffer(
            "center", torch.tensor([p.get("center", p["mean"]) for p in numeric], dtype=F64)
        )
        self.register_buffer(
            "scale", torch.tensor([p.get("scale", p["std"]) for p in numeric], dtype=F64)
        )
        self.register_buffer("clip", torch.tensor([p.get("clip", 0.0) for p in numeric], dtype=F64))
        self.categorical_columns = [p["name"] for p in categorical]
        self.hashed = [p["kind"] == "hash" for p in categorical]
        self.block_width = [
            int(p["buckets"]) if p["kind"] == "hash" else len(p["categories"]) for p in categorical
        ]
        self.positions = [
            {c: i for i, c in enumerate(p.get("categories", []))} for p in categorical
        ]
        self.categorical_indicator = [bool(p["indicator"]) for p in categorical]
        self.width = (
            len(numeric)
            + sum(self.numeric_indicator)
            + sum(self.block_width)
            + sum(self.categorical_indicator)
        )

    def rows(self, numeric: dict[str, Tensor], categorical: dict[str, list[str | None]]) -> int:
        """How many rows the input holds (every column must agree)."""
        n = -1
        for name in self.numeric_columns:
            if name not in numeric:
                raise ValueError("missing numeric column '" + name + "'")
            size = numeric[name].shape[0]
            if n >= 0 and size != n:
                raise ValueError("column '" + name + "' has a different number of rows")
            n = size
        for name in self.categorical_columns:
            if name not in categorical:
                raise ValueError("missing categorical column '" + name + "'")
            size = len(categorical[name])
            if n >= 0 and size != n:
                raise ValueError("column '" + name + "' has a different number of rows")
            n = size
        return max(n, 0)

    def forward(
        self, numeric: dict[str, Tensor], categorical: dict[str, list[str | None]]
    ) -> Tensor:
        n = self.rows(numeric, categorical)
        out = torch.zeros(n, self.width)
        k = len(self.numeric_columns)
        ind = k
        for j, name in enumerate(self.numeric_columns):
            column = numeric[name].to(torch.float32).reshape(-1)
            # NaN and infinities are gaps, as when the search read the table.
            missing = ~torch.isfinite(column)
            column = torch.where(missing, self.median[j], column)
            z = (column.to(torch.float64) - self.center[j]) / self.scale[j]
            if self.clip[j] > 0:
                z = z / torch.hypot(torch.ones_like(z), z / self.clip[j])
            out[:, j] = z.to(torch.float32)
            if self.numeric_indicator[j]:
                out[:, ind] = missing.to(torch.float32)
                ind += 1
        col = ind
        for b, name in enumerate(self.categorical_columns):
            values = categorical[name]
            width = self.block_width[b]
            positions = self.positions[b]
            for i, value in enumerate(values):
                if value is None:
                    if self.categorical_indicator[b]:
                        out[i, col + width] = 1.0
                elif self.hashed[b]:
                    out[i, col + _fnv1a(value) % width] = 1.0
                elif value in positions:  # a category unseen in training stays all-zero
                    out[i, col + positions[value]] = 1.0
            col += width + int(self.categorical_indicator[b])
        return out


class Predictor(nn.Module):
    """Preprocessing + MLP + the task's output mapping, scriptable as one module."""

    task: str
    class_names: list[str]
    target_mean: float
    target_std: float
    numeric_columns: list[str]
    categorical_columns: list[str]

    def __init__(
        self,
        preprocess: Preprocess,
        mlp: nn.Module,
        task: str,
        class_names: list[str],
        target_scale: tuple[float, float],
    ) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.mlp = mlp
        self.task = task
        self.class_names = list(class_names)
        self.target_mean = float(target_scale[0])
        self.target_std = float(target_scale[1])
        self.numeric_columns = list(preprocess.numeric_columns)
        self.categorical_columns = list(preprocess.categorical_columns)

    def forward(
        self, numeric: dict[str, Tensor], categorical: dict[str, list[str | None]]
    ) -> Tensor:
        """Class probabilities (rows x classes), or predicted values in the target's units."""
        out = self.mlp(self.preprocess(numeric, categorical))
        if self.task == "classification":
            return torch.softmax(out, dim=1)
        return out.reshape(-1) * self.target_std + self.target_mean

    @torch.jit.export
    def labels(
        self, numeric: dict[str, Tensor], categorical: dict[str, list[str | None]]
    ) -> list[str]:
        """The predicted class name of each row (classification only)."""
        if self.task != "classification":
            raise ValueError("labels() is for classification; call the model for values")
        best = self.forward(numeric, categorical).argmax(dim=1)
        return [self.class_names[int(i)] for i in best]


def build_predictor(
    mlp: nn.Module, metadata: dict[str, Any], target_scale: tuple[float, float]
) -> torch.jit.ScriptModule:
    """The scripted predictor for a trained MLP and its search's record.

    ``metadata`` is the search record (``hpsearch.json``): ``task``,
    ``class_names`` and ``preprocessing.columns`` are used.
    """
    plans = metadata.get("preprocessing", {}).get("columns", [])
    predictor = Predictor(
        Preprocess(plans), mlp, metadata["task"], metadata.get("class_names", []), target_scale
    )
    predictor.eval()
    return torch.jit.script(predictor)


def save_predictor(model: torch.jit.ScriptModule, path: str, metadata: dict[str, Any]) -> None:
    """Write the archive with ``metadata`` inside it as ``hpsearch.json``."""
    torch.jit.save(model, path, _extra_files={METADATA_FILE: json.dumps(metadata, default=str)})


def load_predictor(path: str) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """An exported model and the metadata saved with it."""
    extra = {METADATA_FILE: ""}
    model = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    return model, json.loads(extra[METADATA_FILE] or "{}")
