"""``hpsearch resume``: a search killed with SIGKILL continues; a finished one grows."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hpsearch.search._experiment import load_experiment
from tests.experiments import HPSEARCH

pytestmark = pytest.mark.ray


def hpsearch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HPSEARCH_STORAGE": str(root)}
    return subprocess.run([*HPSEARCH, *args], env=env, capture_output=True, text=True)


def _newest_study(experiment: Path) -> object:
    state = max(experiment.glob("searcher-state-*.pkl"))
    return pickle.loads(state.read_bytes())["_ot_study"]


def test_a_killed_search_resumes_and_then_grows(tmp_path: Path) -> None:
    root = tmp_path / "results"
    experiment = root / "k"
    env = {**os.environ, "HPSEARCH_STORAGE": str(root)}
    driver = subprocess.Popen(
        [*HPSEARCH, "run", "--space", "quick", "--num-samples", "8", "--max-epochs", "30",
         "--scheduler", "none", "--checkpoint-every", "3", "--name", "k", "--quiet"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Until one trial has ended and others are part way, with checkpoints.
    while len(list(experiment.glob("trial_*"))) < 3 or not list(
        experiment.glob("trial_*/checkpoint_*")
    ):
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(3)  # the killed Ray's workers notice and exit
    before = load_experiment(str(experiment))
    assert before.state == "interrupted"
    ended = {t.trial_id: (experiment / f"trial_{t.trial_id}" / "result.json").read_bytes()
             for t in before.trials if t.state == "completed"}  # fmt: skip

    resumed = hpsearch(root, "resume", "k", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    after = load_experiment(str(experiment))
    assert after.state == "finished" and len(after.trials) == 8 == after.done
    assert {t.state for t in after.trials} == {"completed"}
    # Trials that had ended were not run again.
    for trial_id, lines in ended.items():
        assert (experiment / f"trial_{trial_id}" / "result.json").read_bytes() == lines
    # Unfinished ones continued from their checkpoint, not from epoch 0.
    continued = [t for t in after.trials if any(r["resumed_from_epoch"] > 0 for r in t.history)]
    assert continued
    for trial in continued:
        first = next(r for r in trial.history if r["resumed_from_epoch"] > 0)
        assert first["epoch"] == first["resumed_from_epoch"] + 1
        assert [r["epoch"] for r in trial.history] == list(range(1, 31))
    # Optuna kept everything: one study, the 8 trials, all told their scores.
    study = _newest_study(experiment)
    assert sorted(t.number for t in study.trials) == list(range(8))
    assert {t.state.name for t in study.trials} == {"COMPLETE"}

    # A finished search: nothing to resume, unless it grows.
    again = hpsearch(root, "resume", "k")
    assert again.returncode == 2 and "finished all 8 trials" in again.stderr
    grown = hpsearch(root, "resume", "k", "--num-samples", "10", "--quiet")
    assert grown.returncode == 0, grown.stderr
    final = load_experiment(str(experiment))
    assert len(final.trials) == 10 and final.requested == 10 and final.done == 10
    assert sorted(t.number for t in _newest_study(experiment).trials) == list(range(10))
    assert hpsearch(root, "list").stdout.splitlines()[1].split()[:3] == ["k", "finished", "10/10"]
    fewer = hpsearch(root, "resume", "k", "--num-samples", "5")
    assert fewer.returncode == 2 and "fewer than the 10 trials" in fewer.stderr
