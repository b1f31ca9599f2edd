"""Every bad table is refused from the CLI: exit 2, one line, before Ray, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hpsearch.commands._main import cli
from tests.data.conftest import mixed_table, s3_uri


def parquet(tmp: Path, table: pa.Table, name: str = "t.parquet") -> str:
    pq.write_table(table, tmp / name)
    return str(tmp / name)


def good(tmp: Path) -> str:
    return parquet(tmp, mixed_table())


def corrupt(tmp: Path) -> str:
    (tmp / "bad.parquet").write_bytes(b"PAR1 this is not parquet at all")
    return str(tmp / "bad.parquet")


def text_file(tmp: Path) -> str:
    (tmp / "t.txt").write_text("a,b\n1,2\n")
    return str(tmp / "t.txt")


CASES: list[tuple[str, Callable[[Path], str], list[str], str]] = [
    ("missing file", lambda t: str(t / "absent.parquet"), ["--target", "y"], "data not found: "),
    ("unsupported format", text_file, ["--target", "a"], "unsupported data format"),
    ("unreadable file", corrupt, ["--target", "y"], "cannot read data"),
    (
        "unknown target",
        good,
        ["--target", "nope"],
        "target column 'nope' not in the data (columns: x1, x2",
    ),
    (
        "unknown feature",
        good,
        ["--target", "label", "--features", "x1,nope"],
        "feature column 'nope' not in the data",
    ),
    (
        "target as feature",
        good,
        ["--target", "label", "--features", "x1,label"],
        "the target 'label' is also listed as a feature",
    ),
    (
        "empty table",
        lambda t: parquet(t, mixed_table().slice(0, 0)),
        ["--target", "label"],
        "has no rows",
    ),
    (
        "single class",
        lambda t: parquet(t, pa.table({"x": [1.0, 2.0, 3.0] * 10, "y": ["a"] * 30})),
        ["--target", "y"],
        "has a single class ('a')",
    ),
    (
        "only nulls",
        lambda t: parquet(t, pa.table({"x": [1.0] * 10, "y": pa.array([None] * 10, pa.string())})),
        ["--target", "y"],
        "the target 'y' holds only nulls",
    ),
    (
        "nested feature",
        lambda t: parquet(t, pa.table({"x": [[1, 2]] * 10, "y": [0, 1] * 5})),
        ["--target", "y"],
        "feature column 'x' has type list<element: int64>, which cannot be encoded",
    ),
    (
        "binary feature",
        lambda t: parquet(t, pa.table({"x": [b"\x00"] * 10, "y": [0, 1] * 5})),
        ["--target", "y"],
        "feature column 'x' has type binary",
    ),
    (
        "too few rows",
        lambda t: parquet(t, pa.table({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})),
        ["--target", "y"],
        "too few rows (3) for the requested splits",
    ),
    (
        "regression on strings",
        good,
        ["--target", "label", "--task", "regression"],
        "regression needs a numeric target, but 'label' holds string",
    ),
    (
        "missing values refused",
        good,
        ["--target", "label", "--missing", "error"],
        "feature column 'x1' has",
    ),
    ("no target", good, [], "data needs a target column (add --target COLUMN)"),
    (
        "both datasets",
        good,
        ["--target", "label", "--dataset", "rings"],
        "give either dataset (built-in) or data",
    ),
    (
        "bad input shape",
        good,
        ["--target", "label", "--input-shape", "8by8"],
        "input_shape '8by8' is not HxW or CxHxW",
    ),
    (
        "no rows to train",
        good,
        ["--target", "label", "--val-fraction", "0.5", "--test-fraction", "0.5"],
        "val_fraction + test_fraction is 1",
    ),
    (
        "metric of the other task",
        good,
        ["--target", "price", "--metric", "val_accuracy"],
        "metric 'val_accuracy' is not reported for regression",
    ),
]


@pytest.mark.parametrize(("case", "make", "args", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_tables_are_one_line_exit_2(
    case: str,
    make: Callable[[Path], str],
    args: list[str],
    message: str,
    tmp_path: Path,
    results_root: Path,
) -> None:
    result = CliRunner().invoke(cli, ["run", "--data", make(tmp_path), *args], prog_name="hpsearch")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("hpsearch: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not results_root.exists()


def test_a_target_without_data_is_refused() -> None:
    result = CliRunner().invoke(cli, ["run", "--target", "y"], prog_name="hpsearch")
    assert result.exit_code == 2 and "target applies to --data only" in result.stderr


@pytest.mark.slow
def test_a_missing_s3_object_is_refused(s3_server: dict[str, str], results_root: Path) -> None:
    import pyarrow.fs as pafs

    pafs.S3FileSystem(
        endpoint_override=s3_server["endpoint"],
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
    ).create_dir("bucket-b")
    uri = s3_uri(s3_server, "bucket-b/absent.parquet")
    result = CliRunner().invoke(cli, ["run", "--data", uri, "--target", "y"], prog_name="hpsearch")
    assert (
        result.exit_code == 2 and "data not found: 's3://bucket-b/absent.parquet" in result.stderr
    )
    assert not results_root.exists()
