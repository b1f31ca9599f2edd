"""A real search on two objectives and a bound (Ray, Optuna, torch; in this process on the
tests' shared Ray): its front is the one its own result files give, an infeasible trial
is never best, and it grows and refuses a warm start that optimizes something else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hpsearch.experiments import SUMMARY_FILE
from tests.searches import result_rows, study_trials
from tests.tuning.test_resume import hpsearch, refused

BOUND = 3000  # the quick space's first trials (seed 0) fall on both sides of it
ARGS = ["--space", "quick", "--num-samples", "8", "--max-epochs", "6", "--grace-period", "2",
        "--objective", "val_accuracy:max,latency_ms:min", "--constraint", f"num_params<={BOUND}",
        "--name", "mo", "--quiet"]  # fmt: skip


def _points(location: Path) -> dict[int, dict[str, Any]]:
    """Each trial's metrics at the epoch of its best accuracy (the first of equals), read
    from its own result lines."""
    points = {}
    for folder in sorted(location.glob("trial_*")):
        rows = [r for r in result_rows(str(location), folder.name) if "val_accuracy" in r]
        number = json.loads((folder / "params.json").read_text())["trial_number"]
        best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))
        points[number] = best
    return points


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    better = (a["val_accuracy"] >= b["val_accuracy"], a["latency_ms"] <= b["latency_ms"])
    strictly = (a["val_accuracy"] > b["val_accuracy"], a["latency_ms"] < b["latency_ms"])
    return all(better) and any(strictly)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_search_on_two_objectives_and_a_bound_shows_its_front_and_grows(tmp_path: Path) -> None:
    root = tmp_path / "results"
    ran = hpsearch(root, "run", *ARGS)
    assert ran.returncode == 0, ran.stderr[-3000:]
    location = root / "mo"
    summary = json.loads((location / SUMMARY_FILE).read_text())
    points = _points(location)
    assert len(points) == 8 and all("latency_ms" in p for p in points.values())
    feasible = {n for n, p in points.items() if p["num_params"] <= BOUND}
    assert feasible and set(points) - feasible
    front = {n for n in feasible if not any(_dominates(points[m], points[n]) for m in feasible)}
    assert set(summary["front"]) == front
    assert summary["best"]["number"] in feasible
    assert summary["best"]["number"] == max(feasible, key=lambda n: points[n]["val_accuracy"])
    shown = hpsearch(root, "best", "mo").stdout
    listed = {int(line.split()[0]) for line in shown.splitlines() if line[:1].isdigit()}
    assert listed == front

    # A latency bound half the feasible trials meet: the most accurate of those.
    latencies = sorted(points[n]["latency_ms"] for n in feasible)
    bound = latencies[len(latencies) // 2]
    meeting = {n for n in feasible if points[n]["latency_ms"] <= bound}
    pick = f"latency_ms<={bound!r}"
    picked = hpsearch(root, "best", "mo", "--pick", pick, "--json")
    chosen = max(meeting, key=lambda n: (points[n]["val_accuracy"], -n))
    assert json.loads(picked.stdout)["number"] == chosen, picked.stdout

    # The study: two directions, the bound told to every trial that completed.
    trials = study_trials(str(location), "mo")
    assert trials is not None
    told = [t for t in trials if t.state.name == "COMPLETE"]
    assert told and all(len(t.values) == 2 and len(t.constraints) == 1 for t in told)

    grown = hpsearch(root, "resume", "mo", "--num-samples", "10", "--quiet")
    assert grown.returncode == 0, grown.stderr[-3000:]
    after = study_trials(str(location), "mo")
    assert after is not None and len(after) == 10
    assert [t.values for t in after[:8]] == [t.values for t in trials]
    assert refused(
        hpsearch(root, "run", "--space", "quick", "--warm-start", "mo", "--num-samples", "2"),
        "use the same --objective",
    )
    # The same objectives and bound: its 10 trials seed the sampler of a new study.
    same = [a for a in ARGS if a not in ("mo", "--name")]
    warm = hpsearch(root, "run", *same, "--warm-start", "mo", "--num-samples", "2", "--name", "w")
    assert warm.returncode == 0, warm.stderr[-3000:]
    seeded = study_trials(str(root / "w"), "w")
    assert seeded is not None and len(seeded) == 12
    assert [t.values for t in seeded[:10]] == [t.values for t in after]
    assert [t.constraints for t in seeded[:10]] == [t.constraints for t in after]


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_regression_table_searched_from_python_on_error_and_size(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from hpsearch import SearchConfig, run_search
    from tests.data.conftest import mixed_table

    data = tmp_path / "houses.parquet"
    pq.write_table(mixed_table(n=400).drop_columns(["label"]), data)
    config = SearchConfig(
        data=str(data), target="price", space="quick", num_samples=5, max_epochs=4,
        objectives="val_rmse:min,num_params:min", storage=str(tmp_path / "results"), name="h",
    )  # fmt: skip
    summary = run_search(config, echo=None).summary
    assert summary["objectives"] == ["val_rmse:min", "num_params:min"]
    points = {
        r["number"]: (r["values"]["val_rmse"], r["values"]["num_params"])
        for r in summary["leaderboard"]
    }
    front = {
        n
        for n, (e, p) in points.items()
        if not any(e2 <= e and p2 <= p and (e2, p2) != (e, p) for e2, p2 in points.values())
    }
    assert set(summary["front"]) == front
    assert summary["best"]["number"] == min(points, key=lambda n: points[n])
