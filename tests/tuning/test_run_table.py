"""End-to-end searches on users' tables (real files, real Ray, real Optuna)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pytest

from hpsearch import SearchConfig, run_search
from tests.data.conftest import mixed_table

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]
FAST = {"space": "quick", "num_samples": 6, "max_epochs": 10, "max_concurrent": 2}


def test_multiclass_search_on_a_csv_with_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    pacsv.write_csv(mixed_table(n=1500).drop_columns(["price"]), path)
    lines: list[str] = []
    result = run_search(SearchConfig(data=str(path), target="label", **FAST), echo=lines.append)
    summary = result.summary
    assert "classification of 'label' (3 classes: high, low, mid) [detected]" in lines[0]
    assert Path(result.experiment_path).name.startswith("customers-quick-")
    assert summary["class_names"] == ["high", "low", "mid"]
    assert "color=red" in summary["features"]
    assert summary["preprocessing"]["target"] == "label"
    assert summary["best"]["test"]["test_accuracy"] > 0.75


def test_regression_search_on_a_feather_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.feather"
    feather.write_feather(mixed_table(n=1500).drop_columns(["label"]), path)
    config = SearchConfig(data=str(path), target="price", **FAST)
    summary = run_search(config, echo=None).summary
    assert summary["task"] == "regression" and summary["metric"] == "val_rmse"
    assert summary["best"]["test"]["test_r2"] > 0.8


def bars(n: int, rng: np.random.Generator) -> pa.Table:
    """6x6 images of one bar, vertical (class 1) or horizontal (0), anywhere, with noise."""
    imgs = rng.normal(0, 0.3, size=(n, 6, 6))
    y = rng.integers(0, 2, size=n)
    pos = rng.integers(0, 6, size=n)
    for i in range(n):
        if y[i]:
            imgs[i, :, pos[i]] += 2.0
        else:
            imgs[i, pos[i], :] += 2.0
    columns = {f"px{r}_{c}": imgs[:, r, c] for r in range(6) for c in range(6)}
    return pa.table({**columns, "orientation": np.where(y == 1, "vertical", "horizontal")})


def test_image_shaped_search_uses_image_augmentations(tmp_path: Path) -> None:
    path = tmp_path / "bars.feather"
    feather.write_feather(bars(1200, np.random.default_rng(0)), path)
    config = SearchConfig(
        data=str(path),
        target="orientation",
        input_shape="6x6",
        num_samples=8,
        max_epochs=6,
        max_concurrent=2,
        scheduler="none",
        space_options={"augmentations": ["none"], "lr": [0.003, 0.03], "hidden_layers": [1, 2]},
    )
    summary = run_search(config, echo=None).summary
    used = {r["params"]["augmentation"] for r in summary["leaderboard"]}
    assert used & {"shift", "flip", "rotate", "cutout"}
    assert summary["trials"]["errored"] == 0
    assert summary["best"]["test"]["test_accuracy"] > 0.9
