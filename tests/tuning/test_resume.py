"""``hpsearch resume``: a search killed with SIGKILL continues; a finished one grows."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpsearch.experiments._experiment import load_experiment
from hpsearch.storage import _files as storage
from tests.searches import HPSEARCH, driver_stderr, kill_search, start_search


def hpsearch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HPSEARCH_STORAGE": str(root)}
    return subprocess.run([*HPSEARCH, *args], env=env, capture_output=True, text=True)


def _snapshot(experiment: Path) -> list[tuple[dict, dict]]:
    """Each trial and its metadata in Tune's newest experiment snapshot."""
    snapshots = sorted(experiment.glob("experiment_state-*.json"))
    try:
        state = json.loads(snapshots[-1].read_text()) if snapshots else {}
    except (OSError, json.JSONDecodeError):  # being replaced right now
        return []
    return [(json.loads(t), json.loads(m)) for t, m in state.get("trial_data", [])]


def _known(experiment: Path) -> set[str]:
    """The trial ids in Tune's newest experiment snapshot."""
    return {trial["trial_id"] for trial, _ in _snapshot(experiment)}


def _checkpointed(experiment: Path) -> set[str]:
    """The trial ids whose checkpoint Tune's newest snapshot knows (it restores from those)."""
    from hpsearch.tuning._resume import _checkpoint_names

    return {trial["trial_id"] for trial, meta in _snapshot(experiment) if _checkpoint_names(meta)}


def _part_way(experiment: Path) -> bool:
    """A trial Tune's snapshot knows has ended, and another has not but has a checkpoint
    the snapshot knows (one it does not know restarts from scratch: nothing to test)."""
    known, checkpointed = _known(experiment), _checkpointed(experiment)
    ended, part_way = False, False
    for trial in experiment.glob("trial_*"):
        result = trial / "result.json"
        text = result.read_text() if result.exists() else ""
        trial_id = trial.name.removeprefix("trial_")
        if '"done": true' in text:
            ended = ended or trial_id in known
        elif text and trial_id in checkpointed:
            part_way = True
    return ended and part_way


def _newest_study(experiment: Path) -> object:
    state = max(experiment.glob("searcher-state-*.pkl"))
    return pickle.loads(state.read_bytes())["_ot_study"]


@dataclass(frozen=True)
class KilledSearch:
    original: Path  # where it ran; removed, so no resume may write there
    pristine: Path  # the experiment as the SIGKILL left it (copy it before resuming)
    ended: dict[str, bytes]  # result.json of each trial that had ended
    reported: int  # trials in Tune's snapshot with results: the scheduler's to replay


@pytest.fixture(scope="module")
def killed_search(tmp_path_factory: pytest.TempPathFactory) -> KilledSearch:
    """8 trials, ASHA: the driver SIGKILLed when one trial had ended and another
    was part way, past a checkpoint."""
    root = tmp_path_factory.mktemp("killed") / "results"
    experiment = root / "k"
    driver, marker = start_search(
        ["--space", "quick", "--num-samples", "8", "--max-epochs", "16", "--scheduler", "asha",
         "--grace-period", "4", "--checkpoint-every", "3", "--name", "k"], root
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _part_way(experiment):
            assert driver.poll() is None, driver_stderr(root)
            assert time.monotonic() < deadline, "no trial ended and another part way in 120 s"
            time.sleep(0.1)
    finally:
        kill_search(driver, marker)  # and its Ray: nothing writes to the experiment now
    before = load_experiment(str(experiment))
    assert before.state == "interrupted"
    pristine = tmp_path_factory.mktemp("pristine") / "k"
    shutil.copytree(experiment, pristine)
    # Trials Tune's last snapshot knows; one started after it is run again (orphaned/).
    known = _known(pristine)
    ended = {t.trial_id: (pristine / f"trial_{t.trial_id}" / "result.json").read_bytes()
             for t in before.trials
             if t.state in ("completed", "stopped") and t.trial_id in known}  # fmt: skip
    assert ended, "no trial Tune knew had ended at the kill"
    reported = sum(1 for t in before.trials if t.trial_id in known and t.history)
    shutil.rmtree(experiment)
    return KilledSearch(experiment, pristine, ended, reported)


def _pretend_running(experiment: Path, trial_id: str) -> None:
    snapshot = max(experiment.glob("experiment_state-*.json"))
    state = json.loads(snapshot.read_text())
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["trial_id"] == trial_id:
            entry[0] = json.dumps({**trial, "status": "RUNNING"})
    snapshot.write_text(json.dumps(state))


def _assert_resumed(
    killed: KilledSearch, location: str, read: Callable[[str], bytes], run: Any
) -> None:
    """What a complete resume of the killed search leaves at ``location``."""
    assert run.returncode == 0, run.stderr
    # Tune found every checkpoint it restores from or prunes, and Optuna did
    # not warn about the epochs a continued trial reports again.
    assert "Error handling checkpoint" not in run.stderr
    assert "reported value is ignored" not in run.stderr
    after = load_experiment(location)
    assert after.state == "finished" and len(after.trials) == 8 == after.done
    assert {t.state for t in after.trials} <= {"completed", "stopped"}
    # Every trial's checkpoints are where the experiment is now, none where it ran.
    assert all(t.checkpoint for t in after.trials)
    assert not killed.original.exists()
    # Trials that had ended were not run again.
    for trial_id, lines in killed.ended.items():
        assert read(f"trial_{trial_id}/result.json") == lines
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
    state = max(n for n in storage.list_files(location) if n.startswith("searcher-state-"))
    study = pickle.loads(read(state))["_ot_study"]
    assert sorted(t.number for t in study.trials) == list(range(8))
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
    # ASHA's rungs were rebuilt from every trial the snapshot knew that had results.
    assert f"judged this run against the results of {killed.reported} earlier trials" in run.stdout


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_search_resumes_and_then_grows(
    killed_search: KilledSearch, tmp_path: Path
) -> None:
    root = tmp_path / "results"
    experiment = root / "k"
    shutil.copytree(killed_search.pristine, experiment)
    # Tune's snapshot lags: a trial that ends just before the kill may still
    # run in it (seen in about 1 of 3 kills). Made so here for one trial.
    _pretend_running(experiment, next(iter(killed_search.ended)))
    resumed = hpsearch(root, "resume", "k")
    _assert_resumed(
        killed_search, str(experiment), lambda name: (experiment / name).read_bytes(), resumed
    )

    # A finished search: nothing to resume, unless it grows.
    again = hpsearch(root, "resume", "k")
    assert again.returncode == 2 and "finished all 8 trials" in again.stderr
    grown = hpsearch(root, "resume", "k", "--num-samples", "10", "--quiet")
    assert grown.returncode == 0, grown.stderr
    final = load_experiment(str(experiment))
    assert len(final.trials) == 10 and final.requested == 10 and final.done == 10
    assert all(t.checkpoint for t in final.trials) and not killed_search.original.exists()
    assert sorted(t.number for t in _newest_study(experiment).trials) == list(range(10))
    assert hpsearch(root, "list").stdout.splitlines()[1].split()[:3] == ["k", "finished", "10/10"]
    fewer = hpsearch(root, "resume", "k", "--num-samples", "5")
    assert fewer.returncode == 2 and "fewer than the 10 trials" in fewer.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_search_resumes_from_s3(
    killed_search: KilledSearch, s3_server: dict[str, str], tmp_path: Path
) -> None:
    """The same killed search, kept on a real S3-compatible server (moto, 127.0.0.1)."""
    from tests.data.conftest import s3_filesystem, s3_uri, upload_dir

    upload_dir(s3_server, killed_search.pristine, "resumable/results/k")
    fs = s3_filesystem(s3_server["endpoint"])
    root = s3_uri(s3_server, "resumable/results")
    resumed = hpsearch(tmp_path / "unused", "resume", "k", "--storage", root)

    def read(name: str) -> bytes:
        with fs.open_input_stream(f"resumable/results/k/{name}") as stream:
            return bytes(stream.readall())

    _assert_resumed(killed_search, s3_uri(s3_server, "resumable/results/k"), read, resumed)
    # Nothing was written to the local results root.
    assert not (tmp_path / "unused").exists()


def _add(scheduler: Any, trial_id: str, status: str = "PENDING") -> Any:
    """Add a trial as Tune does: new ones PENDING, ones that ended before a resume TERMINATED."""
    from ray.tune.experiment import Trial

    trial = Trial("t", stub=True, trial_id=trial_id)
    trial.set_status(status)
    scheduler.on_trial_add(None, trial)  # no controller: none is consulted
    return trial


def _scheduler(name: str, metric: str = "val_accuracy", mode: str = "max") -> Any:
    from hpsearch import SearchConfig
    from hpsearch.tuning._schedulers import build_scheduler

    scheduler = build_scheduler(SearchConfig(scheduler=name, max_epochs=16, grace_period=2))
    scheduler.set_search_properties(metric, mode)  # as Tune does before adding trials
    return scheduler


def _histories(n: int) -> dict[str, list[dict[str, float]]]:
    """Trial t<i> scores 0.5 + 0.05 i + 0.01 epoch, epochs 1-8."""
    return {
        f"t{i}": [{"epoch": e, "val_accuracy": 0.5 + 0.05 * i + 0.01 * e} for e in range(1, 9)]
        for i in range(n)
    }


def test_a_resumed_asha_judges_new_trials_against_the_remembered_rungs() -> None:
    from ray.tune.schedulers import TrialScheduler

    from hpsearch.tuning._schedulers import remember_histories

    fresh, resumed = _scheduler("asha"), _scheduler("asha")
    assert remember_histories(resumed, _histories(4).items())
    for trial_id in _histories(4):  # Tune re-adds every restored trial
        _add(resumed, trial_id, "TERMINATED")
    assert resumed.replayed == 4
    rungs = dict(resumed._brackets[0]._rungs)
    assert rungs[2] == {f"t{i}": pytest.approx(0.52 + 0.05 * i) for i in range(4)}
    assert {milestone: len(r) for milestone, r in rungs.items()} == {2: 4, 4: 4, 8: 4, 16: 0}
    # A weak newcomer at epoch 2: the fresh scheduler has nothing to compare
    # with, the resumed one stops it.
    result = {"epoch": 2, "val_accuracy": 0.4}
    assert fresh.on_trial_result(None, _add(fresh, "new"), result) == TrialScheduler.CONTINUE
    assert resumed.on_trial_result(None, _add(resumed, "new"), result) == TrialScheduler.STOP
    # Minimizing: ASHA records the negated value.
    loss = _scheduler("asha", "val_loss", "min")
    remember_histories(loss, [("a", [{"epoch": 2, "val_loss": 0.3}])])
    _add(loss, "a", "TERMINATED")
    assert dict(loss._brackets[0]._rungs)[2] == {"a": -0.3}
    # A trial that continues (with no checkpoint: from epoch 0) is judged
    # again at the rungs it re-reaches, not waved through by its old results.
    again = _scheduler("asha")
    remember_histories(again, _histories(5).items())
    for trial_id in ["t1", "t2", "t3", "t4"]:
        _add(again, trial_id, "TERMINATED")
    t0 = _add(again, "t0")
    assert t0.trial_id not in dict(again._brackets[0]._rungs)[2]
    stale = {"epoch": 2, "val_accuracy": 0.52}  # as before, the worst at rung 2
    assert again.on_trial_result(None, t0, stale) == TrialScheduler.STOP
    # No state to rebuild without early stopping.
    assert not remember_histories(_scheduler("none"), _histories(1).items())


def test_hyperband_keeps_each_trial_in_its_bracket_across_a_resume() -> None:
    from ray.tune.schedulers import TrialScheduler

    from hpsearch.tuning._schedulers import remember_histories

    first, resumed = _scheduler("hyperband"), _scheduler("hyperband")
    histories = _histories(30)
    for trial_id in histories:
        _add(first, trial_id)
    remember_histories(resumed, histories.items())
    for trial_id in histories:
        _add(resumed, trial_id, "TERMINATED")
    # The same bracket both times (Ray's own choice is a fresh random draw),
    # and all three brackets are used.
    placed = {t: resumed._brackets.index(resumed._trial_info[t]) for t in histories}
    assert placed == {t: first._brackets.index(first._trial_info[t]) for t in histories}
    assert set(placed.values()) == {0, 1, 2}
    # Each bracket's rungs hold the results of its own trials only.
    for index, bracket in enumerate(resumed._brackets):
        mine = {t for t, b in placed.items() if b == index}
        for milestone, recorded in bracket._rungs:
            assert set(recorded) == (mine if milestone <= 8 else set())
    # A weak newcomer is stopped at its bracket's first rung.
    newcomer = _add(resumed, "new")
    bracket = resumed._trial_info["new"]
    first_rung = min(milestone for milestone, _ in bracket._rungs)
    weak = {"epoch": first_rung, "val_accuracy": 0.0}
    assert resumed.on_trial_result(None, newcomer, weak) == TrialScheduler.STOP


def test_a_resumed_median_rule_compares_with_the_remembered_trials() -> None:
    from ray.tune.schedulers import TrialScheduler

    from hpsearch.tuning._schedulers import remember_histories

    fresh, resumed = _scheduler("median"), _scheduler("median")
    remember_histories(resumed, _histories(4).items())
    for trial_id in _histories(4):
        _add(resumed, trial_id, "TERMINATED")
    assert resumed.replayed == 4
    weak = {"epoch": 3, "val_accuracy": 0.3}
    assert fresh.on_trial_result(None, _add(fresh, "new"), weak) == TrialScheduler.CONTINUE
    assert resumed.on_trial_result(None, _add(resumed, "new"), weak) == TrialScheduler.STOP

    # A trial restarted from its epoch-2 checkpoint reports epochs 3 and 4
    # again: each counts once, with its newest value.
    again = _scheduler("median")
    trial = _add(again, "r")
    for epoch, value in [(1, 0.5), (2, 0.6), (3, 0.1), (4, 0.1), (3, 0.7), (4, 0.8)]:
        again.on_trial_result(None, trial, {"epoch": epoch, "val_accuracy": value})
    rows = again._results[trial]
    assert [(r["epoch"], r["val_accuracy"]) for r in rows] == [
        (1, 0.5),
        (2, 0.6),
        (3, 0.7),
        (4, 0.8),
    ]
