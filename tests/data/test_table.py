"""Reading and preparing real tables: every format, encodings, splits, S3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from hpsearch.data import TableSpec, load_table
from hpsearch.errors import UserError
from tests.data.conftest import mixed_table, s3_uri, write_s3


def test_csv_with_a_string_label_and_a_categorical_column(tmp_path: Path, table: pa.Table) -> None:
    path = tmp_path / "t.csv"
    pacsv.write_csv(table.drop_columns(["price"]), path)
    d = load_table(TableSpec(str(path), "label"))
    assert d.task == "classification" and d.class_names == ("high", "low", "mid")
    # Numeric columns first, then their missing indicators, then one block per categorical.
    assert d.feature_names == (
        *("x1", "x2", "count", "x1:missing"),
        *("color=blue", "color=green", "color=red"),
    )
    assert d.x_train.dtype == np.float32 and d.x_train.flags["C_CONTIGUOUS"]
    assert sum(d.sizes().values()) == 600
    # One-hot rows hold exactly one 1 among the color columns.
    np.testing.assert_array_equal(d.x_train[:, 4:7].sum(axis=1), 1.0)
    assert d.num_numeric == 3  # what a periodic embedding embeds: not the one-hot block
    # Standardized with the training split only.
    # Centred on train's median, in (-3, 3) after smooth clipping.
    np.testing.assert_allclose(np.median(d.x_train[:, :3], axis=0), 0.0, atol=1e-2)
    assert np.abs(d.x_train[:, :3]).max() < 3.0


@pytest.mark.parametrize("fmt", ["parquet", "feather", "tsv"])
def test_other_formats_read_the_same(tmp_path: Path, table: pa.Table, fmt: str) -> None:
    path = tmp_path / f"t.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "feather":
        feather.write_feather(table, path)
    else:
        pacsv.write_csv(table, path, pacsv.WriteOptions(delimiter="\t"))
    reference = tmp_path / "ref.parquet"
    pq.write_table(table, reference)
    a = load_table(TableSpec(str(path), "label", features=("x1", "x2", "color")))
    b = load_table(TableSpec(str(reference), "label", features=("x1", "x2", "color")))
    np.testing.assert_allclose(a.x_train, b.x_train, rtol=1e-6)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_a_partitioned_parquet_directory(tmp_path: Path, table: pa.Table) -> None:
    pq.write_to_dataset(table, tmp_path / "ds", partition_cols=["color"])
    d = load_table(TableSpec(str(tmp_path / "ds"), "label"))
    assert sum(d.sizes().values()) == 600
    # The partition key comes back as a column and is encoded like any other.
    assert {"color=blue", "color=green", "color=red"} <= set(d.feature_names)


def test_only_needed_columns_are_read(tmp_path: Path, table: pa.Table) -> None:
    # A nested column would be refused as a feature; left out, it is never read.
    nested = table.append_column("tags", pa.array([[1, 2]] * len(table)))
    pq.write_table(nested, tmp_path / "t.parquet")
    d = load_table(TableSpec(str(tmp_path / "t.parquet"), "label", features=("x1", "x2")))
    assert d.feature_names == ("x1", "x2", "x1:missing")


def test_task_detection(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    cases = {
        "float_target": (x * 3, "regression"),
        "few_ints": (rng.integers(0, 4, size=300), "classification"),
        "many_ints": (rng.integers(0, 1000, size=300), "regression"),
        "bools": (x > 0, "classification"),
    }
    for name, (y, task) in cases.items():
        pq.write_table(pa.table({"x": x, "y": y}), tmp_path / f"{name}.parquet")
        assert load_table(TableSpec(str(tmp_path / f"{name}.parquet"), "y")).task == task, name


def test_regression_target_and_forced_task(tmp_path: Path, table: pa.Table) -> None:
    pq.write_table(table, tmp_path / "t.parquet")
    d = load_table(TableSpec(str(tmp_path / "t.parquet"), "price", features=("x1", "x2", "color")))
    assert d.task == "regression" and d.y_train.dtype == np.float32 and d.num_outputs == 1
    forced = load_table(TableSpec(str(tmp_path / "t.parquet"), "count", task="regression"))
    assert forced.task == "regression"


def test_splits_are_seeded_stratified_and_sized(tmp_path: Path, table: pa.Table) -> None:
    pq.write_table(table, tmp_path / "t.parquet")
    spec = TableSpec(
        str(tmp_path / "t.parquet"), "label", val_fraction=0.25, test_fraction=0.15, seed=4
    )
    a, b = load_table(spec), load_table(spec)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert a.sizes() == {"train": 360, "val": 150, "test": 90}
    overall = np.bincount(a.y_train, minlength=3) / 360
    np.testing.assert_allclose(np.bincount(a.y_val, minlength=3) / 150, overall, atol=0.02)
    other = load_table(TableSpec(str(tmp_path / "t.parquet"), "label", seed=5))
    assert not np.array_equal(other.y_train[:50], a.y_train[:50])


def test_a_split_column_is_obeyed(tmp_path: Path, table: pa.Table) -> None:
    n = len(table)
    split = ["train"] * (n - 100) + ["validation"] * 60 + ["test"] * 40
    pq.write_table(table.append_column("part", pa.array(split)), tmp_path / "t.parquet")
    d = load_table(TableSpec(str(tmp_path / "t.parquet"), "label", split_column="part"))
    assert d.sizes() == {"train": n - 100, "val": 60, "test": 40}
    assert not any(name.startswith("part") for name in d.feature_names)


def test_missing_values_imputed_with_train_median_and_indicator(
    tmp_path: Path, table: pa.Table
) -> None:
    pq.write_table(table, tmp_path / "t.parquet")
    d = load_table(TableSpec(str(tmp_path / "t.parquet"), "label", features=("x1",)))
    assert not np.isnan(d.x_train).any()
    indicator = d.x_train[:, 1]
    assert d.feature_names == ("x1", "x1:missing")
    assert 0.05 < indicator.mean() < 0.15
    plan = d.preprocessing["columns"][0]
    imputed = d.x_train[indicator == 1, 0]
    np.testing.assert_array_equal(imputed, 0.0)  # the median, the centre, scales to 0
    assert plan["center"] == plan["median"]


def test_unseen_and_many_categories(tmp_path: Path) -> None:
    n = 400
    words = np.array([f"w{i}" for i in range(n)])  # every value unique: hashed
    colors = np.array(["a", "b"] * (n // 2))
    colors[-5:] = "zzz"  # only in the last rows, which a split column puts in test
    y = np.arange(n) % 2
    split = ["train"] * 300 + ["val"] * 50 + ["test"] * 50
    pq.write_table(
        pa.table({"word": words, "color": colors, "y": y, "part": split}), tmp_path / "t.parquet"
    )
    d = load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    assert [p["kind"] for p in d.preprocessing["columns"]] == ["hash", "onehot"]
    assert sum(name.startswith("word#hash") for name in d.feature_names) == 32
    np.testing.assert_array_equal(d.x_train[:, :32].sum(axis=1), 1.0)
    color_cols = [i for i, name in enumerate(d.feature_names) if name.startswith("color=")]
    assert len(color_cols) == 2  # 'zzz' was never seen in training
    np.testing.assert_array_equal(d.x_test[-5:, color_cols], 0.0)


def test_rows_without_a_label_are_dropped(tmp_path: Path, table: pa.Table) -> None:
    labels = table.column("label").to_pylist()
    labels[:20] = [None] * 20
    t = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(t, tmp_path / "t.parquet")
    assert sum(load_table(TableSpec(str(tmp_path / "t.parquet"), "label")).sizes().values()) == 580


def test_image_shaped_columns_share_one_pixel_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = {f"p{i}": rng.uniform(0, 255, size=200) for i in range(16)}
    pq.write_table(
        pa.table({**pixels, "y": rng.integers(0, 2, size=200)}), tmp_path / "img.parquet"
    )
    d = load_table(TableSpec(str(tmp_path / "img.parquet"), "y", input_shape=(1, 4, 4)))
    assert d.input_shape == (1, 4, 4)
    assert len({(p["mean"], p["std"]) for p in d.preprocessing["columns"]}) == 1
    with pytest.raises(UserError, match="input shape 3x4x4 needs 48 numeric pixel columns"):
        load_table(TableSpec(str(tmp_path / "img.parquet"), "y", input_shape=(3, 4, 4)))


@pytest.mark.slow
def test_s3_through_an_s3_compatible_server(s3_server: dict[str, str], tmp_path: Path) -> None:
    uri = write_s3(s3_server, "bucket-a/tables/t.parquet", mixed_table(), tmp_path)
    d = load_table(TableSpec(uri, "label", features=("x1", "x2", "color")))
    local = tmp_path / "t.parquet"
    pq.write_table(mixed_table(), local)
    np.testing.assert_array_equal(
        d.x_train,
        load_table(TableSpec(str(local), "label", features=("x1", "x2", "color"))).x_train,
    )
    with pytest.raises(UserError, match="data not found"):
        load_table(TableSpec(s3_uri(s3_server, "bucket-a/tables/absent.parquet"), "label"))


def test_a_half_float_target_is_classified(tmp_path: Path) -> None:
    # pyarrow sorts no float16: found by the hostile-tables property test.
    path = tmp_path / "half.parquet"
    y = pa.array(np.tile([0.0, 1.0, 2.5], 40).astype(np.float16))
    pq.write_table(pa.table({"x": np.arange(120.0), "y": y}), path)
    data = load_table(TableSpec(str(path), "y", task="classification"))
    assert data.class_names == ("0.0", "1.0", "2.5")
