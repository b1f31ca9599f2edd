"""Hostile values in users' tables: every Arrow type a file can carry is used or refused.

Numbers, booleans, decimals, dates, timestamps, times and durations become
standardized floats (temporal ones in seconds); strings and dictionaries
become categories; anything else is refused with one line naming the column.
Hypothesis builds tables of random schemas, sizes, nulls, unicode and
extreme values, writes them to Parquet, Feather or CSV, and runs them through
loading, encoding, export and prediction on the same raw rows: nothing may
raise but :class:`UserError`, and a value must give the same feature in
training and at prediction time. No Ray: the predictor wraps an untrained
linear layer.
"""

from __future__ import annotations

import decimal
import faulthandler
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from hpsearch.commands._main import cli
from hpsearch.data import TableSpec, TabularData, load_table, open_table
from hpsearch.data._encode import as_float
from hpsearch.errors import UserError
from hpsearch.models import build_predictor, save_predictor
from hpsearch.models._predict import _inputs, predict_table

INT64 = (-(2**63), 2**63 - 1)
PARTS = ("train", "train", "val", "test")
TIME_ZONES = (None, "UTC", "Europe/Oslo", "+05:30", "America/St_Johns")
UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
#: Few distinct values, so categories repeat and splits share them.
WORDS = st.sampled_from(["a", "b", "", "Ünï", "\x00", "日本", " ", "nan", "NULL", "1"])
LONG = st.builds(
    lambda c, k: c * k, st.characters(exclude_categories=["Cs"]), st.integers(1, 20_000)
)
STRINGS = st.one_of(WORDS, TEXT, LONG)
#: Float32's smallest subnormal and largest value, and float64's.
TINY_AND_HUGE = [1.4e-45, -1.4e-45, 3.4e38, 5e-324, 1.7e308]
FLOATS = st.one_of(
    st.floats(), st.sampled_from([0.0, -0.0, float("inf"), -float("inf"), *TINY_AND_HUGE])
)


# ---- columns -------------------------------------------------------------------------------


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Extremes, anything in range, and small values (which repeat)."""
    small = st.integers(max(lo, -3), min(hi, 3))
    return st.one_of(st.sampled_from([lo, hi, max(lo, 0)]), st.integers(lo, hi), small)


def _cast(values: list[Any], storage: pa.DataType, t: pa.DataType) -> pa.Array:
    return pa.array(values, storage).cast(t)


def _decimal(precision: int, scale: int) -> st.SearchStrategy[decimal.Decimal]:
    big = 10**precision - 1
    context = decimal.Context(prec=precision + 5)
    return _ints(-big, big).map(lambda v: decimal.Decimal(v).scaleb(-scale, context=context))


def _half(values: list[float | None]) -> pa.Array:
    # pyarrow builds half floats from numpy only.
    mask = np.array([v is None for v in values], dtype=bool)
    data = np.array([0.0 if v is None else v for v in values], dtype=np.float16)
    return pa.array(data, mask=mask)


def _distinct(values: list[str | None]) -> list[str | None]:
    return [None if v is None else f"{v}·{i}" for i, v in enumerate(values)]


def _ticks_range(unit: str) -> tuple[int, int]:
    # timestamp[s] is written to Parquet as milliseconds: keep it within that range.
    return (-(2**63 // 1000), INT64[1] // 1000) if unit == "s" else INT64


#: Column kind -> (value strategy, how the list of values becomes an Arrow array).
Maker = tuple[st.SearchStrategy[Any], Callable[[list[Any]], pa.Array]]


def _kinds() -> dict[str, Maker]:
    kinds: dict[str, Maker] = {}
    for bits in (8, 16, 32, 64):
        for signed in (True, False):
            t = getattr(pa, f"{'' if signed else 'u'}int{bits}")()
            info = np.iinfo(f"{'' if signed else 'u'}int{bits}")
            kinds[str(t)] = (_ints(int(info.min), int(info.max)), lambda v, t=t: pa.array(v, t))
    kinds["float64"] = (FLOATS, lambda v: pa.array(v, pa.float64()))
    kinds["float32"] = (
        st.one_of(st.floats(width=32), st.sampled_from([0.0, 1.4e-45, -1.4e-45, 3.4e38])),
        lambda v: pa.array(v, pa.float32()),
    )
    kinds["float16"] = (st.floats(width=16), _half)
    kinds["bool"] = (st.booleans(), lambda v: pa.array(v, pa.bool_()))
    for precision, scale in ((38, 0), (38, 37), (18, 4), (76, 0), (76, 40)):
        t = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
        kinds[str(t)] = (_decimal(precision, scale), lambda v, t=t: pa.array(v, t))
    kinds["date32"] = (_ints(-(2**31), 2**31 - 1), lambda v: _cast(v, pa.int32(), pa.date32()))
    kinds["date64"] = (_ints(*INT64), lambda v: _cast(v, pa.int64(), pa.date64()))
    for unit, per_day in (("s", 86400), ("ms", 86400 * 10**3)):
        t = pa.time32(unit)
        kinds[str(t)] = (_ints(0, per_day - 1), lambda v, t=t: _cast(v, pa.int32(), t))
    for unit, per_day in (("us", 86400 * 10**6), ("ns", 86400 * 10**9)):
        t = pa.time64(unit)
        kinds[str(t)] = (_ints(0, per_day - 1), lambda v, t=t: _cast(v, pa.int64(), t))
    for unit in UNITS:
        for tz in TIME_ZONES:
            t = pa.timestamp(unit, tz)
            kinds[str(t)] = (_ints(*_ticks_range(unit)), lambda v, t=t: _cast(v, pa.int64(), t))
        t = pa.duration(unit)
        kinds[str(t)] = (_ints(*_ticks_range(unit)), lambda v, t=t: _cast(v, pa.int64(), t))
    kinds["string"] = (STRINGS, lambda v: pa.array(v, pa.string()))
    kinds["large_string"] = (STRINGS, lambda v: pa.array(v, pa.large_string()))
    # Distinct strings: over 32 in training take the hashed encoding.
    kinds["distinct<string>"] = (TEXT, lambda v: pa.array(_distinct(v), pa.string()))
    kinds["dict<string>"] = (WORDS, lambda v: pa.array(v, pa.string()).dictionary_encode())
    kinds["dict<int64>"] = (_ints(*INT64), lambda v: pa.array(v, pa.int64()).dictionary_encode())
    kinds["binary"] = (st.binary(max_size=8), lambda v: pa.array(v, pa.binary()))
    kinds["large_binary"] = (st.binary(max_size=8), lambda v: pa.array(v, pa.large_binary()))
    kinds["null"] = (st.none(), lambda v: pa.nulls(len(v)))
    kinds["struct"] = (
        st.fixed_dictionaries({"a": st.integers(-5, 5)}),
        lambda v: pa.array(v, pa.struct([("a", pa.int64())])),
    )
    kinds["list"] = (st.lists(st.integers(-5, 5), max_size=3), lambda v: pa.array(v))
    kinds["map"] = (
        st.lists(st.tuples(WORDS, st.integers(-5, 5)), max_size=2),
        lambda v: pa.array(v, pa.map_(pa.string(), pa.int64())),
    )
    return kinds


KINDS = _kinds()
#: Kinds refused as features (interval: Feather only).
REFUSED = {"binary", "large_binary", "null", "struct", "list", "map", "interval"}
#: Arrow-only types (Parquet cannot store intervals).
FEATHER_KINDS = {
    **KINDS,
    "interval": (
        st.tuples(*[_ints(-(2**31), 2**31 - 1)] * 2, _ints(*INT64)).map(pa.MonthDayNano),
        lambda v: pa.array(v, pa.month_day_nano_interval()),
    ),
}
#: A CSV holds text: nested and binary columns cannot be written to one.
CSV_KINDS = {
    k: v for k, v in KINDS.items() if k not in {"binary", "large_binary", "struct", "list", "map"}
}


@st.composite
def columns(
    draw: st.DrawFn, kinds: dict[str, Maker], rows: int, usable: bool
) -> tuple[str, pa.Array]:
    """One column of ``rows`` values of a random kind: no, some or only nulls.

    Mostly kinds hpsearch uses, so most tables get past the schema check;
    only those when ``usable``.
    """
    fine = st.sampled_from(sorted(k for k in kinds if k not in REFUSED))
    kind = draw(fine if usable else st.one_of(*[fine] * 6, st.sampled_from(sorted(kinds))))
    values, make = kinds[kind]
    nulls = draw(st.sampled_from(["none", "some"] * (8 if usable else 2) + ["all"]))
    if nulls == "all":
        return kind, make([None] * rows)
    cell = values if nulls == "none" else st.one_of(st.none(), values)
    return kind, make(draw(st.lists(cell, min_size=rows, max_size=rows)))


@st.composite
def targets(
    draw: st.DrawFn, kinds: dict[str, Maker], rows: int, usable: bool
) -> tuple[pa.Array, str]:
    """A target column and a task: mostly learnable (so most cases go all the way), or any."""
    choice = draw(st.sampled_from(["classes", "values", "any"]))
    if choice == "classes":
        cell = st.one_of(st.sampled_from(["yes", "no", "ünï"]), st.none())
        labels = draw(st.lists(cell, min_size=rows, max_size=rows))
        labels[:2] = ["yes", "no"][:rows]  # two classes at least, in the training split
        return pa.array(labels, pa.string()), "auto"
    if choice == "values":
        values = draw(st.lists(st.floats(-1e6, 1e6), min_size=rows, max_size=rows))
        return pa.array(values, pa.float64()), "auto"
    _, column = draw(columns(kinds, rows, usable))
    return column, draw(st.sampled_from(["auto", "classification", "regression"]))


@st.composite
def tables(draw: st.DrawFn, usable: bool = False) -> tuple[pa.Table, str, str, bool]:
    """(table, file format, task, whether it has a split column) with target ``y``.

    ``usable``: enough rows and mostly usable columns, so most cases train.
    """
    fmt = draw(st.sampled_from(["parquet", "parquet", "feather", "csv"]))
    kinds = {"parquet": KINDS, "feather": FEATHER_KINDS, "csv": CSV_KINDS}[fmt]
    # Over 32 distinct strings take the hashed encoding.
    sizes = [st.integers(8, 24), st.integers(70, 90)]
    if not usable:
        sizes += [st.integers(2, 6), st.just(1)]
    rows = draw(st.one_of(*sizes))
    features = draw(st.lists(columns(kinds, rows, usable), min_size=1, max_size=4))
    y, task = draw(targets(kinds, rows, usable))
    data = {f"c{i}_{kind}": column for i, (kind, column) in enumerate(features)}
    data["y"] = y
    split = draw(st.booleans())
    if split:
        data["part"] = pa.array([PARTS[i % len(PARTS)] for i in range(rows)])
    return pa.table(data), fmt, task, split


# ---- the pipeline --------------------------------------------------------------------------


@contextmanager
def no_hang(seconds: int = 120) -> Iterator[None]:
    """Dump every thread's stack and exit if the block takes absurdly long (a hang)."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def write(table: pa.Table, fmt: str, directory: Path) -> str:
    """The table as a file; a table its own writer refuses is not a case for hpsearch."""
    path = directory / f"t.{fmt}"
    try:
        if fmt == "parquet":
            pq.write_table(table, path)
        elif fmt == "feather":
            feather.write_feather(table, path)
        else:
            pacsv.write_csv(table, path)
    except (pa.ArrowException, OverflowError):
        assume(False)
    return str(path)


def export(data: TabularData, directory: Path) -> tuple[Any, str]:
    """The TorchScript predictor of an untrained linear model, saved as ``hpsearch predict``
    would load it."""
    torch.manual_seed(0)
    mlp = torch.nn.Linear(data.num_features, data.num_outputs)
    plans = data.preprocessing["columns"]
    metadata = {
        "task": data.task,
        "class_names": list(data.class_names),
        "target": data.preprocessing["target"],
        "numeric_columns": [p["name"] for p in plans if p["kind"] == "numeric"],
        "categorical_columns": [p["name"] for p in plans if p["kind"] != "numeric"],
        "features": list(data.feature_names),
        "preprocessing": data.preprocessing,
    }
    y = data.y_train.astype(np.float64)
    scale = (float(y.mean()), float(y.std()) or 1.0) if data.task == "regression" else (0.0, 1.0)
    model = build_predictor(mlp, metadata, scale)
    path = str(directory / "model.pt")
    save_predictor(model, path, metadata)
    return model, path


def check_one_line(error: UserError) -> None:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text, text


def check_encoded(data: TabularData) -> None:
    """Imputation leaves no gap; scaled features are finite in every split (smooth
    clipping bounds even a value far outside train's range)."""
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.dtype == np.float32 and x.shape[1] == len(data.feature_names)
        assert np.isfinite(x).all()
    for plan in data.preprocessing["columns"]:
        if plan["kind"] == "numeric":
            assert all(np.isfinite(plan[k]) for k in ("median", "mean", "std", "center")), plan
            assert plan["std"] > 0 and plan["scale"] > 0


def check_same_features(model: Any, data: TabularData, path: str) -> None:
    """The exported preprocessing on the raw rows gives the training matrix, split by split."""
    table = open_table(path).to_table()  # the rows as read, not as written
    labelled = table.filter(table.column("y").is_valid()).combine_chunks()
    numeric, categorical = _inputs(labelled.to_batches()[0], _meta(model))
    with torch.inference_mode():
        features = model.preprocess(numeric, categorical).numpy()
    parts = np.array(labelled.column("part").to_pylist())
    for name, x in (("train", data.x_train), ("val", data.x_val), ("test", data.x_test)):
        np.testing.assert_allclose(features[parts == name], x, rtol=1e-5, atol=1e-5)


def _meta(model: Any) -> dict[str, Any]:
    return {
        "numeric_columns": list(model.numeric_columns),
        "categorical_columns": list(model.categorical_columns),
    }


def run_pipeline(table: pa.Table, fmt: str, task: str, split: bool, export_it: bool) -> None:
    """Load, encode and (optionally) export and predict: UserError or success, nothing else."""
    with tempfile.TemporaryDirectory() as tmp, no_hang():
        directory = Path(tmp)
        path = write(table, fmt, directory)
        spec = TableSpec(
            path,
            "y",
            task=task,  # type: ignore[arg-type]
            split_column="part" if split else None,
            val_fraction=0.25,
            test_fraction=0.25,
        )
        try:
            data = load_table(spec)
        except UserError as error:
            check_one_line(error)
            event(f"refused: {str(error)[:80]}")
            return
        event(f"loaded {fmt}")
        if any(p["kind"] == "hash" for p in data.preprocessing["columns"]):
            event("hashed categories")
        check_encoded(data)
        if not export_it:
            return
        model, model_path = export(data, directory)
        if split:
            check_same_features(model, data, path)
        # The same raw rows the model was trained on: predicting must work.
        result = predict_table(model_path, path, str(directory / "out.parquet"))
        assert result.rows == table.num_rows
        out = pq.read_table(directory / "out.parquet")
        assert out.num_rows == table.num_rows and out.column("prediction").null_count == 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tables())
def test_any_table_loads_and_encodes_or_is_refused_in_one_line(
    case: tuple[pa.Table, str, str, bool],
) -> None:
    run_pipeline(*case, export_it=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=tables(usable=True))
def test_any_table_exports_and_predicts_its_own_rows(case: tuple[pa.Table, str, str, bool]) -> None:
    run_pipeline(*case, export_it=True)


# ---- plain regressions ---------------------------------------------------------------------


def _ids_and_times(rows: int = 40) -> pa.Table:
    """64-bit ids beyond 2**53 and pandas' default nanosecond timestamps, with a time zone."""
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2024-01-01", periods=rows, freq="h", tz="Europe/Oslo")
    return pa.table(
        {
            "id": pa.array(2**62 + rng.integers(0, 2**40, size=rows), pa.int64()),
            "big": pa.array([2**64 - 1 - i for i in range(rows)], pa.uint64()),
            "ts": pa.array(stamps).cast(pa.timestamp("ns", tz="Europe/Oslo")),
            "y": rng.normal(size=rows),
            "part": [PARTS[i % len(PARTS)] for i in range(rows)],
        }
    )


def test_big_ints_and_ns_timestamps_are_standardized(tmp_path: Path) -> None:
    table = _ids_and_times()
    pq.write_table(table, tmp_path / "t.parquet")
    assert pq.read_schema(tmp_path / "t.parquet").field("ts").type == pa.timestamp(
        "ns", tz="Europe/Oslo"
    )
    data = load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    assert data.feature_names == ("id", "big", "ts")
    plans = {p["name"]: p for p in data.preprocessing["columns"]}
    # Timestamps count seconds since 1970 (UTC), whatever their unit and zone.
    seconds = pd.Timestamp("2024-01-01", tz="Europe/Oslo").timestamp()
    assert plans["ts"]["domain"] == "datetime"
    assert seconds <= plans["ts"]["median"] <= seconds + 40 * 3600
    assert plans["ts"]["std"] == pytest.approx(np.std(np.arange(30) * 3600.0), rel=0.5)
    assert plans["id"]["mean"] == pytest.approx(2.0**62, rel=1e-3)
    assert plans["big"]["mean"] == pytest.approx(2.0**64, rel=1e-3)
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()


def test_temporal_units_and_zones_give_the_same_seconds() -> None:
    instant = pd.Timestamp("2024-03-01 12:30:00", tz="UTC")
    expected = instant.timestamp()
    for unit in UNITS:
        for tz in TIME_ZONES:
            column = pa.array([instant]).cast(pa.timestamp(unit, tz))
            assert as_float(column)[0] == expected, (unit, tz)
    day = pd.Timestamp("2024-03-01", tz="UTC").timestamp()
    assert as_float(pa.array([instant.date()], pa.date32()))[0] == day
    assert as_float(pa.array([instant.date()], pa.date64()))[0] == day
    assert as_float(_cast([45000], pa.int32(), pa.time32("s")))[0] == 45000.0
    assert as_float(_cast([45000 * 10**9], pa.int64(), pa.time64("ns")))[0] == 45000.0
    assert as_float(_cast([-1500], pa.int64(), pa.duration("ms")))[0] == -1.5


def test_out_of_range_values_are_missing_not_infinite() -> None:
    huge = decimal.Decimal(10) ** 75
    assert np.isnan(as_float(pa.array([huge, -huge], pa.decimal256(76, 0)))).all()
    assert np.isnan(as_float(pa.array([np.inf, -np.inf, np.nan, None], pa.float64()))).all()
    assert as_float(pa.array([2**64 - 1], pa.uint64()))[0] == 2.0**64
    assert as_float(pa.array([INT64[0]], pa.int64()))[0] == -(2.0**63)
    assert np.isnan(as_float(pa.nulls(3))).all()


def test_a_huge_feature_value_is_imputed_in_training_and_prediction(tmp_path: Path) -> None:
    # 1e300 would overflow the float32 features (and 1e30 squared, their variance).
    values = [1e30, 1e300, -1e30, 5.0, 3.0, -1e30, 1e30, 1e300] * 5
    table = pa.table({"x": values, "y": np.arange(40.0), "part": PARTS * 10})
    pq.write_table(table, tmp_path / "t.parquet")
    data = load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    assert data.feature_names == ("x", "x:missing")
    plan = data.preprocessing["columns"][0]
    assert np.isfinite(plan["std"]) and plan["std"] > 1e29
    assert data.x_train[:, 1].sum() == 5  # one train row in 4 is 1e300: flagged missing
    model, _ = export(data, tmp_path)
    check_same_features(model, data, str(tmp_path / "t.parquet"))


def test_a_near_constant_train_column_keeps_far_values_finite(tmp_path: Path) -> None:
    # Train spreads 1e-7; val and test hold 1e35: standardized, that is 1e42 (float32 inf).
    x = [1.0, 1.0 + 1e-7, 1e35, -1e35] * 10
    table = pa.table({"x": x, "y": np.arange(40.0), "part": PARTS * 10})
    pq.write_table(table, tmp_path / "t.parquet")
    data = load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    check_encoded(data)
    np.testing.assert_allclose(data.x_val[:, 0], 3.0, rtol=1e-6)  # clipped, not infinite
    model, _ = export(data, tmp_path)
    check_same_features(model, data, str(tmp_path / "t.parquet"))


def test_a_spread_below_float32_resolution_scales_like_a_constant(tmp_path: Path) -> None:
    # The smallest subnormal float32 apart: std would round to 0 in float32 (NaN, inf).
    table = pa.table({"x": [0.0, 1.4e-45] * 20, "y": np.arange(40.0), "part": PARTS * 10})
    pq.write_table(table, tmp_path / "t.parquet")
    data = load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    assert data.preprocessing["columns"][0]["std"] == 1.0
    check_encoded(data)
    model, _ = export(data, tmp_path)
    check_same_features(model, data, str(tmp_path / "t.parquet"))


def _float_model(tmp_path: Path) -> str:
    table = _ids_and_times().drop_columns(["ts", "big"])
    table = table.append_column("ts", pa.array(np.linspace(0.0, 1.0, table.num_rows)))
    pq.write_table(table, tmp_path / "train.parquet")
    data = load_table(TableSpec(str(tmp_path / "train.parquet"), "y", split_column="part"))
    return export(data, tmp_path)[1]


def test_predict_refuses_timestamps_for_a_feature_trained_on_numbers(tmp_path: Path) -> None:
    model_path = _float_model(tmp_path)
    pq.write_table(_ids_and_times(), tmp_path / "new.parquet")
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        cli,
        ["predict", model_path, "--data", str(tmp_path / "new.parquet"), "-o", str(out)],
        prog_name="hpsearch",
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.stderr
    assert "column 'ts' holds timestamp[ns, tz=Europe/Oslo]" in result.stderr
    assert "trained on numbers" in result.stderr
    assert not out.exists()


def test_predict_takes_a_date_for_a_feature_trained_on_timestamps(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")
    train = pa.table({"when": pa.array(days), "y": np.arange(40.0), "part": PARTS * 10})
    pq.write_table(train, tmp_path / "train.parquet")
    data = load_table(TableSpec(str(tmp_path / "train.parquet"), "y", split_column="part"))
    _, model_path = export(data, tmp_path)
    # The same instants as dates (say, from a CSV): the same features, so the same predictions.
    as_dates = pa.table({"when": pa.array(days.date, pa.date32())})
    pq.write_table(as_dates, tmp_path / "dates.parquet")
    pq.write_table(train.select(["when"]), tmp_path / "stamps.parquet")
    for name in ("dates", "stamps"):
        source = str(tmp_path / f"{name}.parquet")
        predict_table(model_path, source, str(tmp_path / f"{name}.out.parquet"))
    dates = pq.read_table(tmp_path / "dates.out.parquet").column("prediction").to_numpy()
    stamps = pq.read_table(tmp_path / "stamps.out.parquet").column("prediction").to_numpy()
    np.testing.assert_array_equal(dates, stamps)


def test_predict_scores_a_64_bit_integer_target(tmp_path: Path) -> None:
    ids = _ids_and_times().select(["id", "part"]).rename_columns(["y", "part"])
    table = ids.append_column("x", pa.array(np.linspace(0.0, 1.0, ids.num_rows)))
    pq.write_table(table, tmp_path / "t.parquet")
    spec = TableSpec(str(tmp_path / "t.parquet"), "y", task="regression", split_column="part")
    _, model_path = export(load_table(spec), tmp_path)
    result = predict_table(model_path, spec.location, str(tmp_path / "out.parquet"))
    assert result.rows == table.num_rows
    assert 0 < result.score["rmse"] < 2.0**62  # the ids are ~2**62 apart from 0


def test_predict_refuses_a_target_column_it_cannot_score(tmp_path: Path) -> None:
    model_path = _float_model(tmp_path)
    new = _ids_and_times().drop_columns(["ts", "big", "y"])
    new = new.append_column("ts", pa.array(np.zeros(new.num_rows)))
    new = new.append_column("y", pa.array([{"a": 1}] * new.num_rows))
    pq.write_table(new, tmp_path / "new.parquet")
    with pytest.raises(UserError, match=r"the target column 'y' holds struct<a: int64>") as info:
        predict_table(model_path, str(tmp_path / "new.parquet"), str(tmp_path / "out.parquet"))
    check_one_line(info.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_split_column_of_structs_is_refused(tmp_path: Path) -> None:
    parts = pa.array([{"a": p} for p in PARTS * 2])
    table = pa.table({"x": np.arange(8.0), "y": np.arange(8.0), "part": parts})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(UserError, match=r"split column 'part' has type struct<a: string>") as info:
        load_table(TableSpec(str(tmp_path / "t.parquet"), "y", split_column="part"))
    check_one_line(info.value)


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (pa.array([pa.MonthDayNano([1, 2, 3])] * 8, pa.month_day_nano_interval()), "interval"),
        (pa.array([{"a": 1}] * 8, pa.struct([("a", pa.int64())])), "struct<a: int64>"),
        (pa.nulls(8), "holds only nulls"),
        (pa.array([b"x"] * 8, pa.large_binary()), "large_binary"),
    ],
    ids=["interval", "struct", "null", "large_binary"],
)
def test_unusable_column_types_are_one_line_naming_the_column(
    tmp_path: Path, column: pa.Array, message: str
) -> None:
    table = pa.table({"odd": column, "y": np.arange(8.0)})
    feather.write_feather(table, tmp_path / "t.feather")
    result = CliRunner().invoke(
        cli,
        ["run", "--data", str(tmp_path / "t.feather"), "--target", "y"],
        prog_name="hpsearch",
        env={"HPSEARCH_STORAGE": str(tmp_path / "results")},
    )
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("hpsearch: error: feature column 'odd'") and err.count("\n") == 1, err
    assert message in err
