"""Experiments produced by real searches, for the tests that need real weights or a real kill
(the others read experiments laid out by :mod:`tests.factory`).

- ``finished_experiment``: a finished search on a Parquet table with string
  labels, a categorical column with gaps, a hashed high-cardinality
  categorical (non-ASCII values included) and a numeric column with gaps;
  a split column fixes which raw rows are the test split.
- ``interrupted_experiment``: ``hpsearch run`` in a subprocess, its driver
  killed with SIGKILL mid-search (no summary written); while it ran, the
  state inspection saw is recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hpsearch.commands import cli
from tests.data.conftest import mixed_table
from tests.netns import kill_marked

HPSEARCH = [sys.executable, "-m", "hpsearch"]


def start_search(args: list[str], root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``hpsearch run ARGS --quiet`` in a session of its own, results under ``root`` and
    its stderr in ``root``'s parent; the process and the marker its environment (and
    every Ray process it starts) carries."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "HPSEARCH_STORAGE": str(root), "HPSEARCH_TEST_RUN": marker}
    with (root.parent / "driver.stderr").open("wb") as stderr:
        driver = subprocess.Popen(
            [*HPSEARCH, "run", *args, "--quiet"],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return driver, f"HPSEARCH_TEST_RUN={marker}"


def driver_stderr(root: Path) -> str:
    """What the driver :func:`start_search` started under ``root`` wrote to stderr."""
    return (root.parent / "driver.stderr").read_text(errors="replace")


def kill_search(driver: subprocess.Popen[bytes], marker: str) -> None:
    """SIGKILL a search's driver and every Ray process it started: once this returns,
    nothing writes to its experiment any more (Ray's workers run in sessions of their
    own, so killing the driver's group alone leaves them running for a while)."""
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 60
    while kill_marked(marker):
        assert time.monotonic() < deadline, "Ray's processes outlived SIGKILL for 60 s"
        time.sleep(0.1)


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
) -> InterruptedExperiment:
    root = tmp_path_factory.mktemp("interrupted") / "results"
    args = ["--space", "quick", "--num-samples", "40", "--max-epochs", "40"]
    driver, marker = start_search([*args, "--scheduler", "none", "--name", "killed"], root)
    experiment = root / "killed"
    try:
        deadline = time.monotonic() + 120
        # Wait for checkpoints from two trials, so one is best and one is cut short.
        while len(list(experiment.glob("trial_*/checkpoint_*"))) < 3:
            assert driver.poll() is None, driver_stderr(root)
            assert time.monotonic() < deadline, "the search made no checkpoints in 120 s"
            time.sleep(0.3)
        # Inspected in this process while the search runs in another.
        runner = CliRunner()
        listing = runner.invoke(cli, ["list", "--storage", str(root)], prog_name="hpsearch")
        state = next(line.split()[1] for line in listing.stdout.splitlines() if "killed" in line)
        best = runner.invoke(cli, ["best", "killed", "--storage", str(root)], prog_name="hpsearch")
    finally:
        kill_search(driver, marker)
    return InterruptedExperiment(root, "killed", state, best.stdout)
