"""Real tables written in tmp_path, and a real S3-compatible server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest


def mixed_table(n: int = 600, seed: int = 0) -> pa.Table:
    """A string label that depends on numbers and a categorical column, with gaps."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    shift = np.where(color == "red", 1.5, np.where(color == "green", -1.5, 0.0))
    score = x1 + x2 * 0.5 + shift
    label = np.where(score > 0.7, "high", np.where(score < -0.7, "low", "mid"))
    x1_gaps = np.where(rng.uniform(size=n) < 0.1, np.nan, x1)
    return pa.table(
        {
            "x1": pa.array(x1_gaps, from_pandas=True),
            "x2": x2,
            "color": color,
            "count": rng.integers(0, 50, size=n),
            "label": label,
            "price": (score * 10 + 100).astype(np.float64),
        }
    )


@pytest.fixture
def table() -> pa.Table:
    return mixed_table()


def s3_uri(server: dict[str, str], key: str) -> str:
    # The region is given so pyarrow never asks AWS where the bucket lives.
    return f"s3://{key}?endpoint_override={server['endpoint']}&scheme=http&region=us-east-1"


def s3_filesystem(endpoint: str) -> Any:
    """A pyarrow client of the test S3 server at ``host:port`` (test credentials)."""
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )


def write_s3(server: dict[str, str], key: str, table: pa.Table, tmp: Path) -> str:
    import pyarrow.parquet as pq

    fs = s3_filesystem(server["endpoint"])
    fs.create_dir(key.split("/", 1)[0])
    pq.write_table(table, key, filesystem=fs)
    return s3_uri(server, key)


def upload_dir(server: dict[str, str], local: Path, key: str) -> str:
    """Copy the folder ``local`` to ``key`` (``bucket/path``) on the test S3 server;
    its URI."""
    import pyarrow.fs as pafs

    fs = s3_filesystem(server["endpoint"])
    fs.create_dir(key.split("/", 1)[0])
    pafs.copy_files(str(local), key, destination_filesystem=fs)
    return s3_uri(server, key)
