"""Reading experiments back from storage: finished, interrupted (SIGKILL), half-written."""

from __future__ import annotations

import json
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from hpsearch.errors import UserError
from hpsearch.experiments._experiment import experiment_state, list_experiments, load_experiment
from hpsearch.experiments._layout import FINAL_STATES
from hpsearch.experiments._tables import write_table
from tests.searches import FinishedExperiment, InterruptedExperiment

pytestmark = pytest.mark.ray


def test_finished_experiment_reads_back_as_its_summary(
    finished_experiment: FinishedExperiment,
) -> None:
    exp = load_experiment(finished_experiment.name, str(finished_experiment.root))
    summary = finished_experiment.summary
    assert exp.state == "finished" and exp.done == exp.requested == 6
    assert all(t.state in FINAL_STATES for t in exp.trials)
    # The same experiment by path gives the same trials.
    by_path = load_experiment(str(finished_experiment.root / "customers"))
    assert [t.trial_id for t in by_path.trials] == [t.trial_id for t in exp.trials]
    best = exp.best()
    assert best is not None
    assert best["trial_id"] == summary["best"]["trial_id"]
    assert best["value"] == pytest.approx(summary["best"]["val_accuracy"])
    assert best["test"] == summary["best"]["test"]
    assert best["epoch"] == summary["best"]["epoch"]
    assert "optuna" not in best["params"] and "trial_number" not in best["params"]
    # Leaderboard: best first, scores never increasing.
    scores = [t.best(exp.metric, exp.mode)[0] for t in exp.leaderboard()]
    assert scores == sorted(scores, reverse=True)
    assert exp.leaderboard()[0].trial_id == best["trial_id"]


def test_trials_table_has_one_typed_row_per_trial_and_epoch(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    exp = load_experiment(str(finished_experiment.root / "customers"))
    table = exp.trials_table()
    assert table.num_rows == sum(t.epochs for t in exp.trials)
    schema = table.schema
    assert schema.field("epoch").type == pa.int64()
    assert schema.field("val_accuracy").type == pa.float64()
    assert schema.field("params_lr").type == pa.float64()
    assert schema.field("params_hidden_sizes").type == pa.list_(pa.int64())
    assert schema.field("state").type == pa.string()
    # pandas reads the files as written.
    write_table(table, str(tmp_path / "t.parquet"))
    write_table(table, str(tmp_path / "t.csv"))
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert len(frame) == table.num_rows and frame["epoch"].dtype == "int64"
    assert frame.groupby("trial_id")["epoch"].max().to_dict() == {
        t.trial_id: t.epochs for t in exp.trials
    }
    csv = pd.read_csv(tmp_path / "t.csv")
    assert json.loads(csv["params_hidden_sizes"][0]) == frame["params_hidden_sizes"][0].tolist()
    assert not list(tmp_path.glob("*.tmp"))


def test_interrupted_experiment_still_answers(
    interrupted_experiment: InterruptedExperiment,
) -> None:
    assert interrupted_experiment.state_while_running == "running"
    assert "Best trial #" in interrupted_experiment.best_while_running
    exp = load_experiment(interrupted_experiment.name, str(interrupted_experiment.root))
    assert not (interrupted_experiment.root / "killed" / "summary.json").exists()
    assert exp.state == "interrupted" and "driver" in exp.state_reason
    states = {t.state for t in exp.trials}
    assert "interrupted" in states and "running" not in states
    cut = [t for t in exp.trials if t.state == "interrupted"]
    assert all(t.reason == f"interrupted at epoch {t.epochs}" for t in cut)
    assert any(t.epochs > 0 for t in cut)
    best = exp.best()
    assert best is not None and best["test"] is None and best["checkpoint"]
    assert exp.trials_table().num_rows >= sum(t.epochs for t in exp.trials)
    assert [e.name for e in list_experiments(str(interrupted_experiment.root))] == ["killed"]


def test_a_line_being_written_is_skipped(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(finished_experiment.root / "customers", copy)
    before = load_experiment(str(copy))
    result = next(copy.glob("trial_*/result.json"))
    with result.open("a") as out:
        out.write('{"epoch": 99, "val_acc')  # Tune appends; a reader can meet half a line
    after = load_experiment(str(copy))
    assert [t.history for t in after.trials] == [t.history for t in before.trials]


def _iso(seconds_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).isoformat()


def test_state_comes_from_the_summary_the_error_or_the_heartbeat() -> None:
    record = {"started_at": _iso(5), "driver": {"host": "elsewhere", "pid": 1}}
    here = socket.gethostname()
    assert experiment_state(record, None, {"ended": "finished"})[0] == "finished"
    assert experiment_state(record, None, {"ended": "time_budget"})[0] == "finished"
    assert experiment_state(record, None, {"ended": "interrupted"})[0] == "interrupted"
    errored = experiment_state(record, {"state": "errored", "error": "OSError: disk full"}, None)
    assert errored == ("errored", "OSError: disk full")
    # Another host: trust a fresh heartbeat, not a stale one.
    assert experiment_state(record, None, None)[0] == "running"
    fresh = {"state": "running", "updated_at": _iso(3), "host": "elsewhere", "pid": 1}
    assert experiment_state(record, fresh, None)[0] == "running"
    stale = {**fresh, "updated_at": _iso(600)}
    assert experiment_state(record, stale, None)[0] == "interrupted"
    # This host: a dead pid is an interrupted search at once.
    dead = {**fresh, "host": here, "pid": 2**22 + 12345}
    assert experiment_state(record, dead, None)[0] == "interrupted"


def test_unknown_experiments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no experiment 'nope'"):
        load_experiment("nope", str(tmp_path))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="is not an hpsearch experiment"):
        load_experiment(str(tmp_path / "plain"))
