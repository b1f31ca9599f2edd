"""Experiments produced by real searches, shared by the inspection tests.

- ``finished_experiment``: a finished search on a Parquet table with string
  labels, a categorical column with gaps, a hashed high-cardinality
  categorical (non-ASCII values included) and a numeric column with gaps;
  a split column fixes which raw rows are the test split.
- ``interrupted_experiment``: ``hpsearch run`` in a subprocess, its driver
  killed with SIGKILL mid-search (no summary written); while it ran, the
  state inspection saw is recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.data.conftest import mixed_table
from tests.netns import marked_pids

HPSEARCH = [sys.executable, "-m", "hpsearch"]


def customers(n: int = 1500, seed: int = 0) -> pa.Table:
    """mixed_table plus a hashed categorical (60 towns), gaps in 'color', and a split column."""
    rng = np.random.default_rng(seed)
    table = mixed_table(n=n, seed=seed).drop_columns(["price"])
    towns = [f"Zürich-{i}" if i % 3 else f"town {i}" for i in range(60)]
    color = table.column("color").to_pylist()
    color = [None if rng.uniform() < 0.05 else c for c in color]
    split = rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.2, 0.2])
    return (
        table.set_column(table.schema.get_field_index("color"), "color", pa.array(color))
        .append_column("town", pa.array(rng.choice(towns, size=n)))
        .append_column("split", pa.array(split))
    )


@dataclass(frozen=True)
class FinishedExperiment:
    root: Path
    name: str
    data: Path  # the table searched
    summary: dict


@pytest.fixture(scope="session")
def finished_experiment(
    tmp_path_factory: pytest.TempPathFactory, ray_session: None
) -> FinishedExperiment:
    from hpsearch import SearchConfig, run_search

    folder = tmp_path_factory.mktemp("finished")
    data = folder / "customers.parquet"
    pq.write_table(customers(), data)
    config = SearchConfig(
        data=str(data),
        target="label",
        split_column="split",
        space="quick",
        num_samples=6,
        max_epochs=8,
        max_concurrent=2,
        name="customers",
        storage=str(folder / "results"),
    )
    result = run_search(config, echo=None)
    return FinishedExperiment(folder / "results", "customers", data, result.summary)


@dataclass(frozen=True)
class InterruptedExperiment:
    root: Path
    name: str
    state_while_running: str
    best_while_running: str


@pytest.fixture(scope="session")
def interrupted_experiment(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[InterruptedExperiment]:
    root = tmp_path_factory.mktemp("interrupted") / "results"
    marker = f"HPSEARCH_TEST_RUN={uuid.uuid4().hex}"
    env = {**os.environ, "HPSEARCH_STORAGE": str(root), marker.split("=")[0]: marker.split("=")[1]}
    cmd = [*HPSEARCH, "run", "--space", "quick", "--num-samples", "40", "--max-epochs", "40"]
    cmd += ["--scheduler", "none", "--name", "killed", "--quiet"]
    driver = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    experiment = root / "killed"
    try:
        deadline = time.monotonic() + 120
        # Wait for checkpoints from two trials, so one is best and one is cut short.
        while len(list(experiment.glob("trial_*/checkpoint_*"))) < 3:
            assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
            assert time.monotonic() < deadline, "the search made no checkpoints in 120 s"
            time.sleep(0.3)
        env_cli = {**os.environ, "HPSEARCH_STORAGE": str(root)}
        listing = subprocess.run(
            [*HPSEARCH, "list"], env=env_cli, capture_output=True, text=True, check=True
        )
        state = next(line.split()[1] for line in listing.stdout.splitlines() if "killed" in line)
        best = subprocess.run(
            [*HPSEARCH, "best", "killed"], env=env_cli, capture_output=True, text=True
        )
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        # Ray's workers run in sessions of their own: they exit once their
        # raylet is gone (a few seconds); make sure of it before going on.
        deadline = time.monotonic() + 20
        while marked_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in marked_pids(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    yield InterruptedExperiment(root, "killed", state, best.stdout)
