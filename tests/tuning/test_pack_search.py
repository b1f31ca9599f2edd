"""Packs on a real local Ray with real Optuna: each member an ordinary trial everywhere."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import types
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

from hpsearch import SearchConfig, run_search
from hpsearch.commands import cli
from hpsearch.experiments import load_experiment, open_study
from tests.searches import (
    ENDED,
    KILLED_ARGS,
    driver_stderr,
    kill_part_way,
    kill_search,
    start_search,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "result.json").read_text().splitlines()]


def live_rows(folder: Path) -> list[dict[str, Any]]:
    """The result lines a running search has written so far (the last may be partial)."""
    path = folder / "result.json"
    text = path.read_text() if path.exists() else ""
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def test_a_packed_search_runs_each_member_as_its_own_trial(
    results_root: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    config = SearchConfig(
        space="quick", num_samples=8, max_epochs=8, pack=4, max_concurrent=1, name="packed"
    )
    summary = run_search(config, echo=lines.append).summary
    path = results_root / "packed"
    assert any("1 pack of up to 4 trials at a time" in line for line in lines)
    # Two Tune trials, each a pack of four members sharing quick's structure.
    packs = sorted(path.glob("trial_*"))
    assert len(packs) == 2
    configs = [json.loads((p / "params.json").read_text())["pack"] for p in packs]
    assert sorted(m["trial_number"] for c in configs for m in c) == list(range(8))
    for members in configs:
        assert len({(m["optimizer"], tuple(m["hidden_sizes"])) for m in members}) == 1
    # Members judged each on its own: a member the halving rule stopped leaves its pack's later
    # lines while the others go on, and the pack's compute shrinks with it.
    stopped = [r for r in summary["leaderboard"] if r["state"] == "stopped"]
    assert stopped and any(r["state"] == "completed" for r in summary["leaderboard"])
    for pack in packs:
        sizes = [r["pack_size"] for r in rows(pack)]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] == 4
    assert any(r["pack_size"] < 4 for p in packs for r in rows(p))
    # The study of record holds eight ordinary trials, each told its own value.
    exp = load_experiment(str(path))
    study = open_study(exp)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 8
    for row in summary["leaderboard"]:
        trial = study.trials[row["number"]]
        assert trial.user_attrs["ended"] == row["state"]
        assert max(trial.intermediate_values) == row["epochs"]
    # Everywhere a user looks, eight trials with their own checkpoints.
    assert sorted(t.number for t in exp.trials) == list(range(8))
    assert all(t.checkpoint and Path(t.checkpoint).name.startswith("member_") for t in exp.trials)
    assert summary["trials"]["total"] == 8 and summary["ended"] == "finished"
    best = summary["best"]
    assert best["val_accuracy"] == max(r["best_value"] for r in summary["leaderboard"])
    assert Path(best["checkpoint"], "state.pt").exists() and best["test"]["test_accuracy"] > 0.4
    # A member that is not the best exports and predicts like any trial.
    other = next(t.number for t in exp.trials if t.number != best["number"])
    model = tmp_path / "member.pt"
    runner = CliRunner()
    out = runner.invoke(
        cli,
        ["export-model", "packed", "--trial", str(other), "-o", str(model)],
        prog_name="hpsearch",
    )
    assert out.exit_code == 0, out.output
    assert model.stat().st_size > 0
    listing = runner.invoke(cli, ["trials", "packed"], prog_name="hpsearch")
    assert listing.exit_code == 0 and len(listing.stdout.strip().splitlines()) == 9


def diverging(trial: optuna.Trial) -> dict[str, Any]:
    """A space whose trials 1 and 3 diverge (a learning rate of 1e6), the rest train."""
    lr = 1e6 if trial.number % 2 else trial.suggest_float("lr", 1e-3, 1e-2, log=True)
    return {"lr": lr, "hidden_sizes": [32], "optimizer": "sgd", "momentum": 0.9}


def test_a_diverged_member_leaves_alone(
    results_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("packdiverge")
    module.space = diverging  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "packdiverge", module)
    config = SearchConfig(
        space="packdiverge:space",
        num_samples=4,
        max_epochs=4,
        pack=4,
        scheduler="none",
        name="diverge",
    )
    summary = run_search(config, echo=None).summary
    states = {r["number"]: r["state"] for r in summary["leaderboard"]}
    assert states == {0: "completed", 1: "diverged", 2: "completed", 3: "diverged"}
    (pack,) = (results_root / "diverge").glob("trial_*")
    assert [r["pack_size"] for r in rows(pack)] == [4, 2, 2, 2]
    assert summary["best"]["number"] in (0, 2) and summary["best"]["test"]["test_accuracy"] > 0.4


def test_a_killed_packed_search_resumes_its_members_from_their_slices(tmp_path: Path) -> None:
    """SIGKILLed with a member stopped and others part way: resume continues each
    unfinished member from its own slice of its pack's checkpoint."""
    root = tmp_path / "results"
    args = [*KILLED_ARGS, "--pack", "3"]
    args[args.index("--num-samples") + 1] = "9"
    killed = kill_part_way(args, "p", str(root / "p"), root, total=9)
    continuing = killed.continuing
    assert continuing  # part_way: some member had passed a checkpoint
    for number in continuing:
        assert Path(killed.at_kill[number].user_attrs["checkpoint"]).name.startswith("member_")
    resumed = CliRunner().invoke(
        cli, ["resume", "p", "--quiet"], env={"HPSEARCH_STORAGE": str(root)}
    )
    assert resumed.exit_code == 0, resumed.output[-3000:]
    exp = load_experiment(str(root / "p"))
    assert [t.number for t in exp.trials] == list(range(9))
    assert exp.requested == exp.done == 9
    study = open_study(exp)
    assert all(t.state.name in ENDED for t in study.trials)
    for number in continuing:
        epoch = killed.at_kill[number].user_attrs["checkpoint_epoch"]
        trial = next(t for t in exp.trials if t.number == number)
        later = [r for r in trial.history if r["epoch"] > epoch]
        # It went on from its checkpoint's epoch, not from scratch, as its own trial.
        assert later and all(r["resumed_from_epoch"] == epoch for r in later)
    # The ended ones were left as they were.
    for number in killed.ended:
        assert study.trials[number].values == list(killed.at_kill[number].values)


def test_a_pack_whose_worker_dies_continues_its_members_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    """As on a lost node: Tune restarts the pack from its last checkpoint, and each
    member goes on from its own slice there."""
    root = tmp_path / "results"
    args = ["--space", "quick", "--num-samples", "3", "--pack", "3", "--max-epochs", "60",
            "--scheduler", "none", "--checkpoint-every", "2", "--name", "w"]  # fmt: skip
    driver, marker = start_search(args, root)
    try:
        deadline = time.monotonic() + 120
        while True:  # until the pack has checkpointed a few epochs
            assert driver.poll() is None, driver_stderr(root)
            assert time.monotonic() < deadline, "the pack made no checkpoint in 120 s"
            lines = [r for p in root.glob("w/trial_*") for r in live_rows(p)]
            done = [r for r in lines if r.get("checkpoint_dir_name")]
            if done and max(m["epoch"] for m in done[-1]["members"].values()) >= 4:
                break
            time.sleep(0.05)
        os.kill(lines[-1]["pid"], signal.SIGKILL)  # the pack's worker process
        assert driver.wait(timeout=300) == 0, driver_stderr(root)
    finally:
        kill_search(driver, marker)
    exp = load_experiment(str(root / "w"))
    assert [(t.number, t.state, t.epochs) for t in exp.trials] == [
        (n, "completed", 60) for n in range(3)
    ]
    for trial in exp.trials:
        assert "restarted 1x from its checkpoint after a failure" in trial.reason
        resumed = [r for r in trial.history if r["resumed_from_epoch"] > 0]
        assert resumed and resumed[0]["epoch"] == resumed[0]["resumed_from_epoch"] + 1
        assert resumed[0]["resumed_from_epoch"] >= 4


def test_a_pack_drops_the_members_the_scheduler_left_in_pack_stops() -> None:
    """Decisions made before a restart reach the restarted pack too: it asks at its start."""
    import ray

    from hpsearch.data import load_builtin
    from hpsearch.trainable import PackRun, TrainSettings
    from hpsearch.trainable._tune import _take_stops
    from hpsearch.tuning._stops import start_pack_stops

    stops = start_pack_stops()
    try:
        ray.get(stops.stop.remote("pack-a", [11]))
        ray.get(stops.stop.remote("pack-b", [10]))  # another pack's decision
        configs = [
            {"trial_number": n, "hidden_sizes": [8], "lr": 0.01, "seed": n} for n in (10, 11, 12)
        ]
        settings = TrainSettings(max_epochs=3, metric="val_accuracy", mode="max")
        run = PackRun(configs, load_builtin("spirals"), settings)
        _take_stops(run, stops, "pack-a")
        assert [m.number for m in run.active] == [10, 12] and run.model.size == 2
        assert [(m.number, m.state) for m in run.ended] == [(11, "stopped")]
        assert sorted(run.step()) == [10, 12]
    finally:
        ray.kill(stops)
