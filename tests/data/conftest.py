"""Real tables written in tmp_path, and a real S3-compatible server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1, with test credentials in the environment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    assert exe, "moto_server not installed (pip install -e '.[test]')"
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    creds = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Never ask the cloud metadata service (169.254.169.254) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    old = {k: os.environ.get(k) for k in creds}
    os.environ.update(creds)
    try:
        yield {"endpoint": f"127.0.0.1:{port}", **creds}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def s3_uri(server: dict[str, str], key: str) -> str:
    # The region is given so pyarrow never asks AWS where the bucket lives.
    return f"s3://{key}?endpoint_override={server['endpoint']}&scheme=http&region=us-east-1"


def write_s3(server: dict[str, str], key: str, table: pa.Table, tmp: Path) -> str:
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs = pafs.S3FileSystem(
        endpoint_override=server["endpoint"],
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    fs.create_dir(key.split("/", 1)[0])
    pq.write_table(table, key, filesystem=fs)
    return s3_uri(server, key)
