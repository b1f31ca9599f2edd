"""Real searches on a real local Ray with real Optuna: no mocks."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from pathlib import Path

import pytest

from hpsearch import SearchConfig, SearchResult, UserError, run_search
from hpsearch.experiments import INTERNAL_KEYS, load_experiment, open_study
from hpsearch.spaces import SPACE_KEYS

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("ray_session")]


def quick(**overrides: object) -> SearchConfig:
    base = {"space": "quick", "num_samples": 6, "max_epochs": 8, "max_concurrent": 2}
    return SearchConfig.from_mapping({**base, **overrides})


def test_a_search_writes_a_summary_with_the_best_trial_scored_on_test(results_root: Path) -> None:
    lines: list[str] = []
    assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ
    result = run_search(quick(name="basic"), echo=lines.append)
    # The search's Tune settings do not leak into the process for the next one.
    assert "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ
    summary = result.summary
    path = results_root / "basic"
    assert result.experiment_path == str(path)
    assert json.loads((path / "summary.json").read_text()) == json.loads(
        json.dumps(summary, default=str)
    )
    counts = summary["trials"]
    assert counts["total"] == counts["requested"] == 6 and summary["ended"] == "finished"
    assert counts["completed"] + counts["stopped"] + counts["diverged"] + counts["errored"] == 6
    best = summary["best"]
    assert (
        set(best["test"]) == {"test_loss", "test_accuracy"}
        and 0.5 < best["test"]["test_accuracy"] <= 1
    )
    assert best["val_accuracy"] == max(
        r["best_value"] for r in summary["leaderboard"] if r["best_value"]
    )
    assert Path(best["checkpoint"], "state.pt").exists()
    # What was asked is on storage from the start, for inspecting or resuming without the driver.
    record = json.loads((path / "hpsearch.json").read_text())
    assert record["config"] == quick(name="basic").to_json()
    assert (record["metric"], record["mode"], record["task"]) == (
        "val_accuracy",
        "max",
        "classification",
    )
    assert 1 <= best["epoch"] <= 8
    assert any("trial" in line and "done" in line for line in lines)
    # Every trial reported every epoch it trained, with the conventional metric names.
    for trial_dir in path.glob("trial_*"):
        rows = [json.loads(x) for x in (trial_dir / "result.json").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
        assert {"train_loss", "val_loss", "val_accuracy", "epoch_time_s", "num_params"} <= set(
            rows[0]
        )
        # The trial got what the space returned; Optuna's raw draws stay in its record.
        config = json.loads((trial_dir / "params.json").read_text())
        assert set(config) <= set(SPACE_KEYS) | INTERNAL_KEYS, set(config) - set(SPACE_KEYS)
        drawn_only = set(config["optuna"]["params"]) - set(SPACE_KEYS)  # quick's "width"
        assert drawn_only and not drawn_only & set(config)


def test_regression_search_reports_rmse_and_r2() -> None:
    summary = run_search(quick(dataset="friedman", num_samples=4, max_epochs=6), echo=None).summary
    assert summary["metric"] == "val_rmse" and summary["mode"] == "min"
    assert set(summary["best"]["test"]) == {"test_loss", "test_rmse", "test_r2"}
    assert summary["best"]["test"]["test_r2"] > 0.3


def test_the_same_seed_proposes_the_same_configurations() -> None:
    def configs(name: str) -> list[dict]:
        summary = run_search(
            quick(name=name, max_concurrent=1, max_epochs=2, seed=11), echo=None
        ).summary
        rows = sorted(summary["leaderboard"], key=lambda r: r["number"])
        return [r["params"] for r in rows]

    assert configs("seed-a") == configs("seed-b")


def test_diverging_trials_end_cleanly_and_the_search_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wild_space.py").write_text(
        textwrap.dedent("""
        def wild(trial):
            # Every other trial with an absurd learning rate that must blow up.
            lr = 1e12 if trial.number % 2 else trial.suggest_float("lr", 0.003, 0.03, log=True)
            return {"optimizer": "sgd", "momentum": 0.99, "lr": lr, "hidden_sizes": [64, 64]}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run_search(quick(space="wild_space:wild", scheduler="none", max_epochs=4), echo=None)
    summary = result.summary
    sys.modules.pop("wild_space", None)
    assert summary["trials"]["diverged"] == 3
    # The sampler was told: the study of record has the diverged trials as
    # pruned, which TPE ranks below every finished trial.
    study = open_study(load_experiment(result.experiment_path))
    states = {t.number: t.state.name for t in study.trials}
    assert states == {n: "PRUNED" if n % 2 else "COMPLETE" for n in range(6)}
    assert summary["trials"]["errored"] == 0
    diverged = [r for r in summary["leaderboard"] if r["state"] == "diverged"]
    assert all("non-finite" in r["reason"] and r["number"] % 2 for r in diverged)
    assert summary["best"]["config"]["lr"] < 1


@pytest.mark.parametrize("scheduler", ["asha", "hyperband", "median"])
def test_schedulers_stop_poor_trials_early(scheduler: str) -> None:
    result = run_search(
        quick(scheduler=scheduler, num_samples=10, max_epochs=9, grace_period=1), echo=None
    )
    summary = result.summary
    # No trial was paused and sent back to a checkpoint: each epoch ran once.
    for lines in Path(result.experiment_path).glob("trial_*/result.json"):
        epochs = [json.loads(line)["epoch"] for line in lines.read_text().splitlines()]
        assert epochs == list(range(1, len(epochs) + 1)), f"{lines.parent.name}: {epochs}"
    stopped = [r for r in summary["leaderboard"] if r["state"] == "stopped"]
    assert stopped, f"{scheduler} stopped no trial"
    assert all(r["epochs"] < 9 for r in stopped)
    # Whatever was stopped, the best trial has weights to score on the test split.
    assert summary["best"]["test"]["test_accuracy"] > 0.5


def test_ray_runs_on_loopback_only() -> None:
    import ray

    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_an_existing_experiment_is_not_overwritten(results_root: Path) -> None:
    (results_root / "taken").mkdir(parents=True)
    (results_root / "taken" / "keep.txt").write_text("x")
    with pytest.raises(UserError, match="experiment 'taken' already exists"):
        run_search(quick(name="taken"), echo=None)
    assert [p.name for p in (results_root / "taken").iterdir()] == ["keep.txt"]


def test_asking_for_a_gpu_ray_does_not_have_is_a_user_error(results_root: Path) -> None:
    with pytest.raises(UserError, match="gpus_per_trial is 1 but Ray sees 0 GPUs"):
        run_search(quick(gpus_per_trial=1, name="gpu"), echo=None)
    assert not (results_root / "gpu").exists()


def test_loopback_holds_even_when_ray_was_imported_first(tmp_path: Path) -> None:
    import subprocess

    script = textwrap.dedent("""
        import ray  # imported before hpsearch, as a notebook might
        from hpsearch.tuning._local_ray import local_ray
        with local_ray(num_cpus=1):
            nodes = {n["NodeManagerAddress"] for n in ray.nodes()}
            print(nodes, ray.get_runtime_context().gcs_address)
    """)
    # Without the variable in the environment: hpsearch must set it itself.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("{'127.0.0.1'} 127.0.0.1:"), out.stdout


def test_a_time_budget_ends_the_search_early_and_still_summarizes(results_root: Path) -> None:
    config = quick(name="budget", num_samples=200, max_epochs=30, time_budget_s=6, scheduler="none")
    summary = run_search(config, echo=None).summary
    # Whatever the machine's speed: the budget, not the trial count, ended it, and
    # what ran is summarized. (On a busy machine no trial may have reported in 6 s.)
    assert summary["ended"] == "time_budget"
    assert summary["trials"]["total"] < summary["trials"]["requested"] == 200
    assert len(summary["leaderboard"]) == summary["trials"]["total"]
    written = json.loads((results_root / "budget" / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary, default=str))
    # The best is the top-ranked trial that scored, did not crash and has weights;
    # with none such there is no best, and none is made up. (That a finished search
    # has one, scored on test: test_a_search_writes_a_summary_with_the_best_trial_scored_on_test.)
    candidates = [
        r["trial_id"]
        for r in summary["leaderboard"]
        if r["best_value"] is not None and r["state"] != "errored" and r["checkpoint"]
    ]
    best = summary["best"]
    assert (best and best["trial_id"]) == (candidates[0] if candidates else None)
    assert best is None or set(best["test"]) == {"test_loss", "test_accuracy"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, ray_session: None) -> SearchResult:
    """One finished search to warm-start from, run once for the module's tests."""
    root = tmp_path_factory.mktemp("warm") / "results"
    return run_search(quick(name="base", storage=str(root)), echo=None)


def test_warm_start_seeds_the_sampler_with_a_previous_search(base: SearchResult) -> None:
    root = str(Path(base.experiment_path).parent)
    lines: list[str] = []
    config = quick(name="warm", num_samples=4, warm_start="base", storage=root)
    warm = run_search(config, echo=lines.append)
    assert any("warm start from base: 6 trials seed the sampler" in line for line in lines)
    record = json.loads((Path(warm.experiment_path) / "hpsearch.json").read_text())
    assert record["warm_start"] == {"from": "base", "trials": 6}
    # The study of record holds the previous trials first, with their params and scores.
    study = open_study(load_experiment(warm.experiment_path))
    assert len(study.trials) == 10
    before = open_study(load_experiment(base.experiment_path)).trials
    drawn = {t.number: t.searched for t in load_experiment(base.experiment_path).trials}
    for trial in study.trials[:6]:
        assert trial.params == drawn[trial.number] == before[trial.number].params
        assert trial.value == before[trial.number].value is not None
    # The new trials are numbered after them; the search ran as many as asked.
    assert sorted(r["number"] for r in warm.summary["leaderboard"]) == [6, 7, 8, 9]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"space": "mlp"}, "parameter 'optimizer' is not compatible"),
        ({"dataset": "friedman"}, "it searched classification, this is regression"),
        ({"metric": "val_loss"}, "it optimized val_accuracy (max), this search val_loss (min)"),
        ({"warm_start": "nothing-here"}, "no experiment 'nothing-here'"),
    ],
)
def test_warm_start_from_an_incompatible_search_is_refused(
    base: SearchResult, overrides: dict, message: str
) -> None:
    root = Path(base.experiment_path).parent
    settings = {"warm_start": "base", "storage": str(root), **overrides}
    config = quick(name="refused", num_samples=2, **settings)
    with pytest.raises(UserError, match=re.escape(message)):
        run_search(config, echo=None)
    assert not (root / "refused").exists()
