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


def _part_way(experiment: Path) -> bool:
    """A trial has a checkpoint and has not ended."""
    for trial in experiment.glob("trial_*"):
        result = trial / "result.json"
        checkpointed = list(trial.glob("checkpoint_*")) and result.exists()
        if checkpointed and '"done": true' not in result.read_text():
            return True
    return False


def _newest_study(experiment: Path) -> object:
    state = max(experiment.glob("searcher-state-*.pkl"))
    return pickle.loads(state.read_bytes())["_ot_study"]


def test_a_killed_search_resumes_and_then_grows(tmp_path: Path) -> None:
    root = tmp_path / "results"
    experiment = root / "k"
    env = {**os.environ, "HPSEARCH_STORAGE": str(root)}
    driver = subprocess.Popen(
        [*HPSEARCH, "run", "--space", "quick", "--num-samples", "8", "--max-epochs", "30",
         "--scheduler", "asha", "--grace-period", "4", "--checkpoint-every", "3",
         "--name", "k", "--quiet"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Until one trial has ended and another is part way, past a checkpoint.
    while len(list(experiment.glob("trial_*"))) < 3 or not _part_way(experiment):
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(3)  # the killed Ray's workers notice and exit
    before = load_experiment(str(experiment))
    assert before.state == "interrupted"
    ended = {t.trial_id: (experiment / f"trial_{t.trial_id}" / "result.json").read_bytes()
             for t in before.trials if t.state in ("completed", "stopped")}  # fmt: skip

    resumed = hpsearch(root, "resume", "k", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    after = load_experiment(str(experiment))
    assert after.state == "finished" and len(after.trials) == 8 == after.done
    assert {t.state for t in after.trials} <= {"completed", "stopped"}
    # Trials that had ended were not run again.
    for trial_id, lines in ended.items():
        assert (experiment / f"trial_{trial_id}" / "result.json").read_bytes() == lines
    # Unfinished ones continued from their checkpoint, not from epoch 0.
    continued = [t for t in after.trials if any(r["resumed_from_epoch"] > 0 for r in t.history)]
    assert continued
    for trial in continued:
        first = next(r for r in trial.history if r["resumed_from_epoch"] > 0)
        start = first["resumed_from_epoch"]
        assert first["epoch"] == start + 1
        epochs = [r["epoch"] for r in trial.history]
        assert [e for e in epochs if e > start] == list(range(start + 1, trial.epochs + 1))
        # Epochs up to the checkpoint: Tune syncs a trial's result.json to storage
        # after its checkpoint; a driver killed in between takes the last lines
        # with it (seen: a trial resumed at epoch 3 with none of epochs 1-3).
        assert set(epochs) - set(range(start + 1, trial.epochs + 1)) <= set(range(1, start + 1))
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


def test_a_resumed_asha_judges_new_trials_against_the_replayed_rungs() -> None:
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    from hpsearch import SearchConfig
    from hpsearch.search._schedulers import build_scheduler, replay_rungs

    config = SearchConfig(max_epochs=16, grace_period=2)
    histories = [
        (f"t{i}", [{"epoch": e, "val_accuracy": 0.5 + 0.05 * i + 0.01 * e} for e in range(1, 9)])
        for i in range(4)
    ]
    fresh = build_scheduler(config)
    resumed = build_scheduler(config)
    assert replay_rungs(resumed, histories, "val_accuracy", "max") == 4 * 3  # rungs 2, 4, 8
    rungs = dict(resumed._brackets[0]._rungs)  # type: ignore[attr-defined]
    assert rungs[2] == {f"t{i}": pytest.approx(0.52 + 0.05 * i) for i in range(4)}
    # A weak newcomer at epoch 2: the fresh scheduler has nothing to compare with,
    # the resumed one stops it.
    weak = Trial("weak", stub=True, trial_id="new")
    assert fresh._brackets[0].on_result(weak, 2, 0.4) == TrialScheduler.CONTINUE  # type: ignore[attr-defined]
    assert resumed._brackets[0].on_result(weak, 2, 0.4) == TrialScheduler.STOP  # type: ignore[attr-defined]
    # Minimizing: ASHA records the negated value.
    loss = build_scheduler(config)
    replay_rungs(loss, [("a", [{"epoch": 2, "val_loss": 0.3}])], "val_loss", "min")
    assert dict(loss._brackets[0]._rungs)[2] == {"a": -0.3}  # type: ignore[attr-defined]
    # Several brackets (hyperband): a trial's bracket is unknown, nothing is replayed.
    assert (
        replay_rungs(
            build_scheduler(config.model_copy(update={"scheduler": "hyperband"})),
            histories,
            "val_accuracy",
            "max",
        )
        == 0
    )
