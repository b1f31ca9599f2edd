"""Experiments produced by real searches, for the tests that need real weights or a real kill
(the others read experiments laid out by :mod:`tests.factory`).

- ``finished_experiment``: a finished search on a Parquet table with string
  labels, a categorical column with gaps, a hashed high-cardinality
  categorical (non-ASCII values included) and a numeric column with gaps;
  a split column fixes which raw rows are the test split.
- ``interrupted_experiment``: ``hpsearch run`` in a subprocess, its driver
  killed with SIGKILL mid-search (no summary written); while it ran, the
  state inspection saw is recorded.
- ``killed_search``: a search with ASHA, its driver SIGKILLed when its study
  had a trial that ended and another part way past a checkpoint; with what
  the study and the trial folders held at the kill (what resume must keep).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hpsearch import storage
from hpsearch.commands import cli
from hpsearch.experiments import RESULT_FILE, STUDY_FILE, TRIAL_PREFIX
from tests.data.conftest import mixed_table
from tests.netns import kill_marked

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

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
    with contextlib.suppress(ProcessLookupError):  # it may have ended (and a test failed)
        os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 60
    while kill_marked(marker):
        assert time.monotonic() < deadline, "Ray's processes outlived SIGKILL for 60 s"
        time.sleep(0.1)


def kill_when(
    driver: subprocess.Popen[bytes],
    marker: str,
    ready: Callable[[], bool],
    what: str,
    timeout: float = 120,
) -> bool:
    """SIGKILL the search (:func:`kill_search`) once ``ready()`` holds, checked again
    with its driver stopped (SIGSTOP): the driver alone writes the study, so what
    ``ready`` saw is what the kill leaves. False if the search ended first."""
    deadline = time.monotonic() + timeout
    try:
        while driver.poll() is None:
            assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
            if ready():
                os.kill(driver.pid, signal.SIGSTOP)
                if ready():
                    return True
                os.kill(driver.pid, signal.SIGCONT)
            time.sleep(0.05)
        return False
    finally:
        kill_search(driver, marker)


def study_trials(location: str, name: str) -> tuple[FrozenTrial, ...] | None:
    """The trials of the study in ``location``'s journal, read with plain Optuna from a
    copy of it (the search may be writing it); ``None`` before the study exists."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    content = storage.read_bytes(storage.join(location, STUDY_FILE))
    if not content:
        return None
    with tempfile.TemporaryDirectory(prefix="hpsearch-test-study-") as folder:
        copy = Path(folder) / STUDY_FILE
        copy.write_bytes(content)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        journal = JournalStorage(JournalFileBackend(str(copy)))
        try:
            study = optuna.load_study(study_name=name, storage=journal)
        except KeyError:  # the journal holds no study yet
            return None
        return tuple(sorted(study.get_trials(deepcopy=True), key=lambda t: t.number))


def trial_folders(location: str) -> dict[int, tuple[str, ...]]:
    """The ``trial_<id>`` folders of the experiment at ``location``, by trial number."""
    found: dict[int, list[str]] = {}
    for name in storage.list_dirs(location):
        try:
            params = storage.read_json(storage.join(location, name, "params.json"))
        except ValueError:  # cut short by the kill (Tune writes it in place)
            continue
        if name.startswith(TRIAL_PREFIX) and params is not None:
            # A pack's folder holds several trials (its members).
            for config in params.get("pack", [params]):
                found.setdefault(int(config["trial_number"]), []).append(name)
    return {number: tuple(sorted(names)) for number, names in found.items()}


def tree(location: str) -> dict[str, bytes]:
    """Every file under ``location`` (a path or a URI), by path relative to it."""
    import pyarrow.fs as pafs

    fs, base = storage.filesystem(location)
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    files = {}
    for info in infos:
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as stream:
                files[info.path[len(base) :].lstrip("/")] = bytes(stream.read())
    return files


def result_rows(location: str, folder: str) -> list[dict[str, Any]]:
    """The result lines of one trial folder, in the order Tune wrote them."""
    text = storage.read_text(storage.join(location, folder, RESULT_FILE)) or ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


#: Whether a trial has ended, as the study holds it (the others continue on resume).
ENDED = ("COMPLETE", "PRUNED", "FAIL")

#: The killed search: 6 trials, ASHA with rungs at epochs 4 and 8, checkpoints every 3.
KILLED_ARGS = ["--space", "quick", "--num-samples", "6", "--max-epochs", "12",
               "--scheduler", "asha", "--grace-period", "4", "--checkpoint-every", "3",
               "--max-concurrent", "2"]  # fmt: skip
KILLED_TRIALS, KILLED_GRACE, KILLED_EPOCHS = 6, 4, 12


def part_way(
    trials: tuple[FrozenTrial, ...] | None, left: int = 2, total: int = KILLED_TRIALS
) -> bool:
    """A study of ``total`` trials in which a trial has ended, another is part way past a
    checkpoint, and at least ``left`` trials are left to ask (so a resume runs new
    trials too)."""
    return bool(
        trials
        and len(trials) <= total - left
        and any(t.state.name in ENDED for t in trials)
        and any(_part_way(t) for t in trials)
    )


def _part_way(trial: FrozenTrial) -> bool:
    """Running, past a checkpoint, neither at its last epoch nor stopped by the pruner."""
    values = trial.intermediate_values
    return (
        trial.state.name == "RUNNING"
        and "checkpoint" in trial.user_attrs
        and "stopped_at" not in trial.user_attrs
        and bool(values)
        and max(values) < KILLED_EPOCHS
    )


@dataclass(frozen=True)
class KilledSearch:
    """A search SIGKILLed mid-run, and what it held at the kill."""

    name: str
    location: str  # the experiment as the kill left it (copy it before resuming a local one)
    at_kill: tuple[FrozenTrial, ...]  # its study's trials, by number
    folders: dict[int, tuple[str, ...]]  # its trial folders with a params.json, by number
    trees: dict[str, dict[str, bytes]]  # each trial folder's files (with a params.json or not)

    @property
    def ended(self) -> list[int]:
        """The trials the study had as ended: resume must leave them be."""
        return [t.number for t in self.at_kill if t.state.name in ENDED]

    @property
    def unheard(self) -> list[int]:
        """Trials that ended before the kill let the study be told (trained to the last
        epoch, or stopped by the pruner): resume tells it, and runs them no more."""
        return [
            t.number
            for t in self.at_kill
            if t.state.name not in ENDED
            and t.intermediate_values
            and (max(t.intermediate_values) >= KILLED_EPOCHS or "stopped_at" in t.user_attrs)
        ]

    @property
    def unfinished(self) -> list[int]:
        """Trials that had not ended: resume runs them again under their own numbers."""
        done = {*self.ended, *self.unheard}
        return [t.number for t in self.at_kill if t.number not in done]

    @property
    def continuing(self) -> list[int]:
        """Unfinished trials with a checkpoint: resume continues them from it."""
        return [n for n in self.unfinished if "checkpoint" in self.at_kill[n].user_attrs]


def kill_part_way(
    args: list[str], name: str, where: str, root: Path, left: int = 2, total: int = KILLED_TRIALS
) -> KilledSearch:
    """``hpsearch run ARGS --name NAME`` (results under ``root`` unless ARGS give
    ``--storage``), SIGKILLed once :func:`part_way` (``left``); ``where`` is the
    experiment's location, read as the kill left it.

    Which trials the pruner stops depends on the order their epochs arrive in, so on a
    loaded machine a search can pass every moment :func:`part_way` needs between two
    polls (seen in CI): it is then run again, removed first, with the next seed."""
    what = "trial ended and another part way past a checkpoint"
    for seed in range(3):
        driver, marker = start_search([*args, "--name", name, "--seed", str(seed)], root)

        def ready() -> bool:
            return part_way(study_trials(where, name), left, total)

        if kill_when(driver, marker, ready, what):
            at_kill = study_trials(where, name)
            assert at_kill is not None and part_way(at_kill, left, total)
            return KilledSearch(name, where, at_kill, trial_folders(where), trial_trees(where))
        fs, path = storage.filesystem(where)
        fs.delete_dir(path)
    raise AssertionError(f"three searches ended before a {what}:\n" + driver_stderr(root))


def trial_trees(location: str) -> dict[str, dict[str, bytes]]:
    """The files of each ``trial_<id>`` folder of the experiment at ``location``."""
    return {
        f: tree(storage.join(location, f))
        for f in storage.list_dirs(location)
        if f.startswith(TRIAL_PREFIX)
    }


@pytest.fixture(scope="session")
def killed_search(tmp_path_factory: pytest.TempPathFactory) -> KilledSearch:
    """:data:`KILLED_ARGS`, the driver SIGKILLed part way (:func:`part_way`); the folder
    it ran in is removed, so that no resume can write there."""
    root = tmp_path_factory.mktemp("killed") / "results"
    killed = kill_part_way(KILLED_ARGS, "k", str(root / "k"), root)
    pristine = tmp_path_factory.mktemp("pristine") / "k"
    shutil.copytree(root / "k", pristine)
    shutil.rmtree(root / "k")
    return KilledSearch(killed.name, str(pristine), killed.at_kill, killed.folders, killed.trees)


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


def _two_scored_checkpoints(experiment: Path) -> bool:
    """Whether the running search at ``experiment`` has, as read, a checkpointed best
    trial and another checkpointed trial."""
    from hpsearch.experiments import load_experiment

    if not list(experiment.glob("trial_*/checkpoint_*")):
        return False
    exp = load_experiment(str(experiment))
    best = exp.best_trial()
    scored = [t for t in exp.trials if t.checkpoint and t.score(exp.metric)[0] is not None]
    return best is not None and best.checkpoint is not None and len(scored) >= 2


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
        # Wait until a reader sees two checkpointed, scored trials (one best, one cut short):
        # a checkpoint folder lands before the driver writes its result line.
        while not _two_scored_checkpoints(experiment):
            assert driver.poll() is None, driver_stderr(root)
            assert time.monotonic() < deadline, "no two scored checkpoints in 120 s"
            time.sleep(0.3)
        # Inspected in this process while the search runs in another.
        runner = CliRunner()
        listing = runner.invoke(cli, ["list", "--storage", str(root)], prog_name="hpsearch")
        state = next(line.split()[1] for line in listing.stdout.splitlines() if "killed" in line)
        best = runner.invoke(cli, ["best", "killed", "--storage", str(root)], prog_name="hpsearch")
    finally:
        kill_search(driver, marker)
    return InterruptedExperiment(root, "killed", state, best.stdout)
