"""Reading experiments back from storage: finished, running, interrupted, errored, half-written.

On experiments laid out by :mod:`tests.factory`; one search killed for real
with SIGKILL (slow) shows what a real interruption leaves.
"""

from __future__ import annotations

import json
import os
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
from tests.factory import DEAD_PID, FakeTrial, make_experiment
from tests.searches import InterruptedExperiment


def test_finished_experiment_reads_back_as_its_summary(tmp_path: Path) -> None:
    fake = make_experiment(tmp_path, "customers")
    summary = fake.summary
    assert summary is not None
    exp = load_experiment("customers", str(tmp_path))
    assert exp.state == "finished" and exp.done == exp.requested == 6
    assert all(t.state in FINAL_STATES for t in exp.trials)
    assert [t.trial_id for t in exp.trials] == list(fake.trial_ids)  # in study order
    # The same experiment by path gives the same trials.
    by_path = load_experiment(str(fake.path))
    assert [t.trial_id for t in by_path.trials] == [t.trial_id for t in exp.trials]
    best = exp.best()
    assert best is not None
    assert best["trial_id"] == summary["best"]["trial_id"]
    assert best["value"] == pytest.approx(summary["best"]["val_accuracy"])
    assert best["test"] == summary["best"]["test"]
    assert best["epoch"] == summary["best"]["epoch"] == 3
    assert "optuna" not in best["params"] and "trial_number" not in best["params"]
    assert best["checkpoint"] == summary["best"]["checkpoint"]
    # Leaderboard: in the summary's order (usable trials best first, then the rest);
    # each trial's state as the summary's.
    assert [t.trial_id for t in exp.leaderboard()] == [
        r["trial_id"] for r in summary["leaderboard"]
    ]
    usable = [t for t in exp.leaderboard() if t.state != "errored"]
    scores = [t.score(exp.metric, exp.mode)[0] for t in usable]
    assert scores == sorted(scores, reverse=True) and usable[0].trial_id == best["trial_id"]
    rows = {r["trial_id"]: r for r in summary["leaderboard"]}
    assert {t.trial_id: (t.state, t.reason, t.epochs) for t in exp.trials} == {
        tid: (r["state"], r["reason"], r["epochs"]) for tid, r in rows.items()
    }


def test_a_regression_search_is_ranked_by_the_smallest_rmse(tmp_path: Path) -> None:
    trials = [FakeTrial(score=1.5), FakeTrial(score=0.9, best_at=2), FakeTrial(score=1.2)]
    fake = make_experiment(tmp_path, "prices", trials=trials, task="regression")
    exp = load_experiment(str(fake.path))
    assert (exp.metric, exp.mode) == ("val_rmse", "min")
    assert [t.number for t in exp.leaderboard()] == [1, 2, 0]
    best = exp.best()
    assert best is not None and (best["number"], best["value"], best["epoch"]) == (1, 0.9, 2)
    assert set(best["val"]) == {"val_loss", "val_rmse", "val_r2"}
    assert [t.number for t in exp.leaderboard(sort="val_r2")] == [1, 2, 0]  # r2: the larger


def test_trials_table_has_one_typed_row_per_trial_and_epoch(tmp_path: Path) -> None:
    exp = load_experiment(str(make_experiment(tmp_path / "results", "customers").path))
    table = exp.trials_table()
    assert table.num_rows == sum(t.epochs for t in exp.trials) == 14
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


def _killed(root: Path) -> Path:
    """A search killed with SIGKILL: one trial ended, two cut short (one before any checkpoint)."""
    trials = [
        FakeTrial("completed", score=0.8),
        FakeTrial("running", epochs=3, score=0.9),
        FakeTrial("running", epochs=1, score=0.95),
    ]
    return make_experiment(root, "killed", trials=trials, state="interrupted").path


def test_a_killed_search_still_answers(tmp_path: Path) -> None:
    exp = load_experiment(str(_killed(tmp_path)))
    assert exp.summary is None
    assert exp.state == "interrupted" and exp.state_reason == f"its driver (pid {DEAD_PID}) is gone"
    assert [t.state for t in exp.trials] == ["completed", "interrupted", "interrupted"]
    assert [t.reason for t in exp.trials[1:]] == [
        "interrupted at epoch 3",
        "interrupted at epoch 1",
    ]
    assert exp.done == 1 and exp.requested == 3
    # The best trial with weights to use; the test split is scored only when a search ends.
    best = exp.best()
    assert best is not None and (best["number"], best["state"]) == (1, "interrupted")
    assert best["test"] is None and best["checkpoint"].endswith("checkpoint_000000")
    assert exp.trials_table().num_rows == 4 + 3 + 1
    assert [e.name for e in list_experiments(str(tmp_path))] == ["killed"]


def test_the_same_trials_run_while_their_driver_lives(tmp_path: Path) -> None:
    location = _killed(tmp_path)
    status = json.loads((location / "status.json").read_text())
    (location / "status.json").write_text(json.dumps({**status, "pid": os.getpid()}))
    exp = load_experiment(str(location))
    assert exp.state == "running" and exp.state_reason == ""
    assert [t.state for t in exp.trials] == ["completed", "running", "running"]
    assert [t.reason for t in exp.trials[1:]] == ["at epoch 3", "at epoch 1"]


def test_a_search_whose_driver_failed_is_errored(tmp_path: Path) -> None:
    fake = make_experiment(tmp_path, "failed", state="errored", trials=[FakeTrial("completed")])
    exp = load_experiment(str(fake.path))
    assert (exp.state, exp.state_reason) == (
        "errored",
        "OSError: [Errno 28] No space left on device",
    )
    assert exp.summary is None and exp.trials[0].state == "completed"


def test_a_trial_restarted_after_a_failure_is_not_errored(tmp_path: Path) -> None:
    trials = [
        FakeTrial("completed", restarts=2),
        FakeTrial("errored", epochs=2, restarts=1, error="RuntimeError: CUDA out of memory"),
    ]
    exp = load_experiment(str(make_experiment(tmp_path, "flaky", trials=trials).path))
    recovered, failed = exp.trials
    assert recovered.state == "completed"
    assert recovered.reason == "restarted 2x from its checkpoint after a failure"
    # A failure after the last report ends the trial, whatever came before.
    assert (failed.state, failed.reason) == ("errored", "RuntimeError: CUDA out of memory")


def _lost_from_summary(tmp_path: Path, checkpoint: str | None) -> tuple[Path, str]:
    """A finished experiment whose best trial's files a kill left out: the summary alone
    knows it, and names ``checkpoint`` (``{exp}``: the experiment's folder) as its own."""
    fake = make_experiment(tmp_path / "results", "customers")
    assert fake.summary is not None
    best = fake.summary["best"]
    shutil.rmtree(fake.path / f"trial_{best['trial_id']}")  # its checkpoint with it
    forged = None if checkpoint is None else checkpoint.format(exp=fake.path)
    for row in [best, *fake.summary["leaderboard"]]:
        if row["trial_id"] == best["trial_id"]:
            row["checkpoint"] = forged
    (fake.path / "summary.json").write_text(json.dumps(fake.summary))
    return fake.path, best["trial_id"]


@pytest.mark.parametrize(
    "named",
    [
        "{exp}/trial_0a1b2c3d/checkpoint_000001",
        # Where the search wrote it, not where the experiment is read (a copy, a symlinked
        # folder): the checkpoint is read in the experiment all the same.
        "/elsewhere/customers/trial_0a1b2c3d/checkpoint_000001",
        # Hostile: each is read in the experiment, or not at all (below), never there.
        "{exp}/../elsewhere/trial_0a1b2c3d/checkpoint_000001",
        "/etc/trial_0a1b2c3d/checkpoint_000001",
        "s3://someone-elses-bucket/customers/trial_0a1b2c3d/checkpoint_000001",
    ],
)
def test_a_checkpoint_the_summary_alone_knows_is_read_in_the_experiment(
    tmp_path: Path, named: str
) -> None:
    path, trial_id = _lost_from_summary(tmp_path, named)
    exp = load_experiment(str(path))
    trial = exp.trial(trial_id)
    assert trial.epochs > 0  # as the summary has it
    assert trial.checkpoint == f"{path}/trial_0a1b2c3d/checkpoint_000001"
    best = exp.best()
    assert best is not None and best["checkpoint"] == trial.checkpoint
    by_uri = load_experiment(f"{path.as_uri()}?region=here").trial(trial_id)  # options kept
    assert by_uri.checkpoint == f"{path.as_uri()}/trial_0a1b2c3d/checkpoint_000001?region=here"


@pytest.mark.parametrize(
    "checkpoint",
    [
        "{exp}/trial_0a1b2c3d/../../elsewhere/checkpoint_000001",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/../../..",
        "{exp}/trial_0a1b2c3d/../checkpoint_000001",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/state.pt",  # not a checkpoint folder
        "{exp}/trial_0a1b2c3d/checkpoint_1",
        "{exp}",
        "",
        None,
    ],
)
def test_a_checkpoint_the_summary_does_not_name_as_a_search_does_is_ignored(
    tmp_path: Path, checkpoint: str | None
) -> None:
    """summary.json is data from storage: export and predict never load weights from
    anywhere it points but the experiment's own trial folders."""
    path, trial_id = _lost_from_summary(tmp_path, checkpoint)
    exp = load_experiment(str(path))
    assert exp.trial(trial_id).checkpoint is None
    best = exp.best()
    assert best is not None and best["trial_id"] == trial_id and best["checkpoint"] is None


@pytest.mark.slow
@pytest.mark.ray
def test_a_search_killed_with_sigkill_still_answers(
    interrupted_experiment: InterruptedExperiment,
) -> None:
    """What a real SIGKILL leaves: no summary, trials cut short, the best checkpoint so far."""
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


def test_a_line_being_written_is_skipped(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(make_experiment(tmp_path / "results", "customers").path, copy)
    before = load_experiment(str(copy))
    result = next(copy.glob("trial_*/result.json"))
    with result.open("a") as out:
        out.write('{"epoch": 99, "val_acc')  # Tune appends; a reader can meet half a line
    after = load_experiment(str(copy))
    assert [t.history for t in after.trials] == [t.history for t in before.trials]
    assert after.trials_table().num_rows == before.trials_table().num_rows == 14


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
    dead = {**fresh, "host": here, "pid": DEAD_PID}
    assert experiment_state(record, dead, None)[0] == "interrupted"


def test_unknown_experiments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no experiment 'nope'"):
        load_experiment("nope", str(tmp_path))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="is not an hpsearch experiment"):
        load_experiment(str(tmp_path / "plain"))


def test_a_params_file_a_kill_cut_short_is_read_from_the_results(tmp_path: Path) -> None:
    """Tune writes params.json in place: a SIGKILL mid-write leaves it cut. The trial
    still reads (its config is on every result line), and so does the experiment."""
    fake = make_experiment(tmp_path / "results", "cut", state="interrupted")
    params = fake.path / f"trial_{fake.trial_ids[0]}" / "params.json"
    whole = json.loads(params.read_text())
    params.write_text(params.read_text()[:20])
    exp = load_experiment(str(fake.path))
    assert [t.number for t in exp.trials] == list(range(len(fake.trial_ids)))
    assert exp.trials[0].params["lr"] == whole["lr"]
