"""summary.json as the search writes it (:func:`summarize`), on trials the factory laid
out: a search of several objectives with constraints holds its front, each trial's
point and feasibility, and a feasible best; a search of one metric looks as before.

The best trial's checkpoint is the factory's placeholder: loading and scoring it is
replaced by made-up scores (what is tested is which trial is chosen, and what the
summary says about it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.tuning import _summary
from hpsearch.tuning._summary import format_summary, summarize
from tests.factory import FRONT, INFEASIBLE, FakeExperiment, FakeTrial, make_experiment, make_front

#: The keys summary.json and each of its leaderboard rows had before several objectives.
SUMMARY_KEYS = [
    *("experiment", "config", "dataset", "task", "metric", "mode", "class_names", "features"),
    *("preprocessing", "split_sizes", "path", "trials", "ended", "wall_time_s", "ray_start_s"),
    *("concurrency", "best", "leaderboard"),
]
ROW_KEYS = [
    *("trial_id", "number", "state", "reason", "epochs", "best_value", "best_epoch", "last"),
    *("num_params", "params", "checkpoint", "node"),
]
BEST_KEYS = [
    *("trial_id", "number", "config", "val_accuracy", "epoch", "epochs_trained", "state"),
    *("checkpoint", "evaluated_epoch", "val", "test", "num_params"),
]


@pytest.fixture(autouse=True)
def _scored_without_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The best's placeholder checkpoint 'loads', and scores made-up values."""
    monkeypatch.setattr(
        _summary, "model_from_checkpoint", lambda *_: (None, {"best": {"epoch": 3}, "epoch": 4})
    )
    monkeypatch.setattr(
        _summary,
        "score_splits",
        lambda *_: {"val": {"val_accuracy": 0.5}, "test": {"test_accuracy": 0.5}},
    )


def summary_of(fake: FakeExperiment) -> dict[str, Any]:
    """What :func:`summarize` writes for the factory's experiment (its study told nothing
    more than the result files hold)."""
    record = json.loads((fake.path / "hpsearch.json").read_text())
    config = SearchConfig.from_mapping(record["config"])
    rows = np.zeros((2, 2), dtype=np.float32)
    labels = np.zeros(2, dtype=np.int64)
    data = TabularData(
        "spirals", "classification", rows, labels, rows, labels, rows, labels, ("x0", "x1"),
        class_names=("0", "1"),
    )  # fmt: skip
    return summarize(
        config,
        data,
        name=fake.name,
        experiment_path=str(fake.path),
        times={},
        wall_time_s=1.0,
        ray_start_s=0.5,
        told={},
    )


def test_the_summary_of_several_objectives_holds_the_front_and_a_feasible_best(
    tmp_path: Path,
) -> None:
    summary = summary_of(make_front(tmp_path))
    assert summary["objectives"] == ["val_accuracy:max", "latency_ms:min"]
    assert summary["constraints"] == ["num_params<=5000"]
    assert summary["front"] == FRONT
    # The best feasible val_accuracy: trial 3 (0.9), not the infeasible 0.99 nor the errored.
    best = summary["best"]
    assert best["number"] == 3 and best["val_accuracy"] == pytest.approx(0.9)
    assert best["values"] == {"val_accuracy": 0.9, "latency_ms": 4.0, "num_params": 1300}
    rows = {r["number"]: r for r in summary["leaderboard"]}
    assert [r["number"] for r in summary["leaderboard"]] == [3, 2, 4, 1, 0, 5, INFEASIBLE, 7]
    assert {n for n, r in rows.items() if not r["feasible"]} == {INFEASIBLE}
    # Each trial's point: its metrics at the epoch where val_accuracy was best (3 of 4).
    assert rows[INFEASIBLE]["values"] == {
        "val_accuracy": 0.99,
        "latency_ms": 0.1,
        "num_params": 90_000,
    }
    assert rows[0]["best_epoch"] == 3
    text = format_summary(summary)
    assert "Best trial 3: val_accuracy 0.9000 at epoch 3" in text
    assert "Pareto front of val_accuracy:max, latency_ms:min: #3, #2, #1, #0" in text


def test_when_no_trial_meets_the_constraints_there_is_no_best(tmp_path: Path) -> None:
    trials = [FakeTrial(score=0.9, model={"num_params": 9000}), FakeTrial(score=0.8)]
    fake = make_experiment(tmp_path, "big", trials=trials, constraints=["num_params<=1050"])
    summary = summary_of(fake)
    assert summary["best"] is None and summary["front"] == []
    assert [r["feasible"] for r in summary["leaderboard"]] == [False, False]
    assert "No trial met the constraints (num_params<=1050)" in format_summary(summary)


def test_a_search_of_one_metric_is_summarized_as_before(tmp_path: Path) -> None:
    summary = summary_of(make_experiment(tmp_path, "plain"))
    assert list(summary) == SUMMARY_KEYS
    assert all(list(row) == ROW_KEYS for row in summary["leaderboard"])
    assert list(summary["best"]) == BEST_KEYS
    assert summary["best"]["number"] == 0
    assert "Pareto" not in format_summary(summary)
