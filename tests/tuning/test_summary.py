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
import torch
from torch import Tensor, nn

from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.trainable import score_splits as _real_score_splits
from hpsearch.trainable._ensemble import split_validation
from hpsearch.tuning import _summary
from hpsearch.tuning._summary import format_summary, summarize
from tests.factory import FRONT, INFEASIBLE, FakeExperiment, FakeTrial, make_experiment, make_front

#: The keys summary.json and each of its leaderboard rows had before several objectives.
SUMMARY_KEYS = [
    *("experiment", "config", "dataset", "task", "metric", "mode", "class_names", "features"),
    *("preprocessing", "split_sizes", "path", "trials", "ended", "wall_time_s", "ray_start_s"),
    *("concurrency", "best", "leaderboard"),
    *("median_value", "ensemble", "final"),  # the final model, since issue 15
]
ROW_KEYS = [
    *("trial_id", "number", "state", "reason", "epochs", "best_value", "best_epoch", "last"),
    *("num_params", "params", "checkpoint", "node"),
]
BEST_KEYS = [
    *("trial_id", "number", "config", "val_accuracy", "epoch", "epochs_trained", "state"),
    *("checkpoint", "evaluated_epoch", "val", "test", "num_params"),
]


def _state(**more: Any) -> dict[str, Any]:
    return {"best": {"epoch": 3}, "epoch": 4, "target_scale": (0.0, 1.0), **more}


@pytest.fixture(autouse=True)
def _scored_without_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """The placeholder checkpoints 'load' (as one model: no ensemble beats the best),
    and score made-up values."""
    same = nn.Linear(2, 2)
    monkeypatch.setattr(_summary, "model_from_checkpoint", lambda *_: (same, _state()))
    monkeypatch.setattr(
        _summary,
        "score_splits",
        lambda *_: {"val": {"val_accuracy": 0.5}, "test": {"test_accuracy": 0.5}},
    )


def summary_of(
    fake: FakeExperiment, data: TabularData | None = None, **config: Any
) -> dict[str, Any]:
    """What :func:`summarize` writes for the factory's experiment (its study told nothing
    more than the result files hold), on ``data`` (default: two rows of zeros), its
    recorded config changed by ``config``."""
    record = json.loads((fake.path / "hpsearch.json").read_text())
    search = SearchConfig.from_mapping({**record["config"], **config})
    rows = np.zeros((2, 2), dtype=np.float32)
    labels = np.zeros(2, dtype=np.int64)
    data = data or TabularData(
        "spirals", "classification", rows, labels, rows, labels, rows, labels, ("x0", "x1"),
        class_names=("0", "1"),
    )  # fmt: skip
    return summarize(
        search,
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
    # Every candidate is the same model: the selection keeps the best alone.
    assert summary["ensemble"]["picks"] == [0] and summary["final"] == "best"


class Lookup(nn.Module):
    """A 'model' whose logits for a row are looked up by the row's id (feature 0)."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        return self.logits[x[:, 0].long()]


def _rows_of_ids(first: int, n: int) -> np.ndarray:
    return np.stack([np.arange(first, first + n), np.zeros(n)], axis=1).astype(np.float32)


def test_the_ensemble_of_the_top_trials_is_chosen_checked_and_scored_on_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 0 (the best) errs on 4 validation and 4 test rows, trial 2 is right (and
    sure) exactly there and unsure elsewhere: together they are right everywhere."""
    fake = make_experiment(tmp_path, "plain")  # usable: 0 (0.91), 2, 1, 5, 3
    y_val, y_test = np.tile([0, 1], 20), np.tile([1, 0], 20)
    labels = np.concatenate([y_val, y_test])
    select, check = split_validation(y_val, "classification", seed=0)
    wrong = np.array([*select[:2], *check[:2], 40, 41, 42, 43])  # rows 40.. are the test rows
    sure = np.where(np.arange(80)[:, None] == np.array(wrong)[None, :], 1, 0).any(axis=1)

    def logits(truth_score: np.ndarray) -> np.ndarray:
        out = np.zeros((80, 2))
        out[np.arange(80), labels] = truth_score
        return out

    models = {
        0: logits(np.where(sure, -1.0, 1.0)),  # right where not `sure`, unsure
        2: logits(np.where(sure, 6.0, -0.5)),  # right and sure exactly there
    }

    def restore(directory: Any, *_: Any) -> tuple[nn.Module, dict[str, Any]]:
        number = json.loads((Path(directory).parent / "params.json").read_text())["trial_number"]
        return Lookup(models.get(number, logits(np.full(80, -2.0)))), _state()

    monkeypatch.setattr(_summary, "model_from_checkpoint", restore)
    monkeypatch.setattr(_summary, "score_splits", _real_score_splits)
    data = TabularData(
        "spirals", "classification", _rows_of_ids(0, 40), y_val, _rows_of_ids(0, 40), y_val,
        _rows_of_ids(40, 40), y_test, ("id", "zero"), class_names=("a", "b"),
    )  # fmt: skip
    summary = summary_of(fake, data)
    ensemble = summary["ensemble"]
    assert [m["number"] for m in ensemble["members"]] == [0, 2]
    assert set(ensemble["picks"]) == {0, 2} and ensemble["candidates"] == [0, 2, 1, 5, 3]
    assert ensemble["adopted"] and summary["final"] == "ensemble"
    assert ensemble["check"]["ensemble"]["val_accuracy"] == 1.0
    assert ensemble["check"]["best"]["val_accuracy"] == pytest.approx(18 / 20)
    # Scored once on test, beside the best single trial (which misses 4 of 40 there).
    assert ensemble["test"]["test_accuracy"] == 1.0
    assert summary["best"]["test"]["test_accuracy"] == pytest.approx(36 / 40)
    assert sum(m["weight"] for m in ensemble["members"]) == pytest.approx(1.0)
    # The median of the usable trials' best scores (0.91, 0.86, 0.72, 0.64, 0.55).
    assert summary["median_value"] == pytest.approx(0.72)
    text = format_summary(summary)
    picks = ", ".join(map(str, ensemble["picks"]))
    assert f"Ensemble of 2 trials, {len(ensemble['picks'])} picks ({picks}): " in text
    assert "test_accuracy 1.0000 vs best single 0.9000 (adopted: better on the check" in text
    assert "best val_accuracy 0.9100 vs median trial 0.7200 (+0.19)" in text


def test_an_ensemble_turned_off_or_of_several_objectives_is_not_built(tmp_path: Path) -> None:
    off = summary_of(make_experiment(tmp_path, "plain"), ensemble_size=0)
    assert off["ensemble"] is None and off["final"] == "best"
    assert off["ensemble_skipped"] == "turned off: ensemble_size 0"
    assert "Ensemble: not built (turned off: ensemble_size 0)" in format_summary(off)
    front = summary_of(make_front(tmp_path))
    assert front["ensemble"] is None and "several objectives" in front["ensemble_skipped"]
