"""A resumed search: one trial number, several Tune runs (folders), read as one trial.

A resume continues each unfinished trial as a new Tune trial under the same
number, from its checkpoint: the earlier run's folder (cut short) and the
continuation's (reporting again the epochs after that checkpoint) must read as
one trial everywhere: ``trials``, the leaderboard, ``best``, the table and
its export, the report, and the reader the summary uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner, Result

from hpsearch.commands import cli
from hpsearch.experiments import load_experiment, read_trials
from tests.factory import FakeExperiment, FakeTrial, make_experiment

# max_epochs 4, a checkpoint every 2 epochs. Trial 1 is the best, at epoch 3, which
# both of its runs reported (the continuation's report is 0.93, the earlier run's 0.92).
RESUMED = (
    FakeTrial("completed", score=0.80),
    FakeTrial("completed", score=0.93, best_at=3, runs=2, resumed_at=2),
    FakeTrial("stopped", epochs=3, score=0.70, runs=2, resumed_at=2),
    FakeTrial("completed", score=0.75, runs=3, resumed_at=(1, 2), reached=(2, 3)),
    FakeTrial("errored", epochs=3, score=0.60, runs=2, resumed_at=2),
)


def hpsearch(*args: str, root: Path) -> Result:
    """``hpsearch ARGS --storage ROOT``, in this process."""
    return CliRunner().invoke(cli, [*args, "--storage", str(root)], prog_name="hpsearch")


@pytest.fixture
def resumed(tmp_path: Path) -> FakeExperiment:
    fake = make_experiment(tmp_path, "resumed", trials=RESUMED)
    # Folder names (Tune ids) are not in run order: the reader must not rely on them.
    assert any(list(runs) != sorted(runs) for runs in fake.runs)
    return fake


@pytest.fixture
def killed(tmp_path: Path) -> FakeExperiment:
    """Killed during the resumed run: trial 1's continuation reported epoch 3 (no
    checkpoint yet), trial 2's had started but reported nothing."""
    trials = (
        FakeTrial("completed", score=0.80),
        FakeTrial("running", epochs=3, score=0.93, runs=2, resumed_at=2),
        FakeTrial("running", epochs=2, score=0.70, runs=2, resumed_at=2),
    )
    return make_experiment(tmp_path, "killed", trials=trials, state="interrupted")


def test_each_number_is_one_trial_numbered_without_gaps(resumed: FakeExperiment) -> None:
    exp = load_experiment(str(resumed.path))
    assert [t.number for t in exp.trials] == list(range(len(RESUMED)))
    # Its id: the first run's, stable across resumes; every run's, in run order.
    assert [t.trial_id for t in exp.trials] == list(resumed.trial_ids)
    assert [t.runs for t in exp.trials] == list(resumed.runs)
    assert [len(t.runs) for t in exp.trials] == [1, 2, 2, 3, 2]
    assert exp.done == exp.requested == len(exp.leaderboard()) == 5
    # What the summary reads (hpsearch.experiments.read_trials) is the same.
    assert read_trials(str(resumed.path), exp.max_epochs) == exp.trials


def test_history_merges_the_runs_the_later_report_of_an_epoch_winning(
    resumed: FakeExperiment,
) -> None:
    exp = load_experiment(str(resumed.path))
    one, three = exp.trial("1"), exp.trial("3")
    assert [r["epoch"] for r in one.history] == [1, 2, 3, 4] == [r["epoch"] for r in three.history]
    # Epochs 1-2 from the first run; 3-4 from the continuation (from the checkpoint at 2).
    assert [r["resumed_from_epoch"] for r in one.history] == [0, 0, 2, 2]
    assert [r["resumed_from_epoch"] for r in three.history] == [0, 1, 2, 2]
    assert one.at_epoch(3)["val_accuracy"] == 0.93  # not the earlier run's 0.92
    assert one.score(exp.metric) == (0.93, 3)
    # Time trained: every run's (1.5 s for 3 epochs, then 1 s for 2), not the last run's alone.
    assert one.wall_time_s == 2.5 and [r["time_total_s"] for r in one.history] == [
        0.5,
        1.0,
        2.0,
        2.5,
    ]


def test_state_and_checkpoint_are_the_last_runs(resumed: FakeExperiment) -> None:
    exp = load_experiment(str(resumed.path))
    states = [(t.state, t.epochs) for t in exp.trials]
    # The earlier runs, cut short, read as interrupted; the last run decides.
    assert states == [
        ("completed", 4),
        ("completed", 4),
        ("stopped", 3),
        ("completed", 4),
        ("errored", 3),
    ]
    assert exp.trial("2").reason == "stopped early by the scheduler at epoch 3"
    for trial, runs in zip(exp.trials[1:4], resumed.runs[1:4], strict=True):
        assert trial.checkpoint is not None
        assert Path(trial.checkpoint).parent == resumed.path / f"trial_{runs[-1]}"
    summary = resumed.summary
    assert summary is not None
    rows = {r["number"]: r for r in summary["leaderboard"]}
    assert {t.number: (t.state, t.reason, t.checkpoint) for t in exp.trials} == {
        n: (r["state"], r["reason"], r["checkpoint"]) for n, r in rows.items()
    }


def test_a_trial_is_found_by_its_number_or_any_runs_id(resumed: FakeExperiment) -> None:
    exp = load_experiment(str(resumed.path))
    for number, runs in enumerate(resumed.runs):
        for key in (str(number), *runs):
            assert exp.trial(key).runs == runs and exp.trial(key).number == number


def test_best_is_the_merged_trial(resumed: FakeExperiment) -> None:
    ids = resumed.runs[1]
    shown = hpsearch("best", "resumed", "--json", root=resumed.root)
    assert shown.exit_code == 0, shown.output
    best = json.loads(shown.stdout)
    assert (best["number"], best["trial_id"], best["state"]) == (1, ids[0], "completed")
    assert (best["value"], best["epoch"], best["epochs_trained"]) == (0.93, 3, 4)
    assert best["checkpoint"] == str(resumed.path / f"trial_{ids[1]}" / "checkpoint_000000")
    assert best["wall_time_s"] == 2.5
    # A summary naming the trial by its last run's id finds the same trial.
    summary_file = resumed.path / "summary.json"
    summary = json.loads(summary_file.read_text())
    summary["best"]["trial_id"] = ids[1]
    summary_file.write_text(json.dumps(summary))
    again = load_experiment(str(resumed.path)).best()
    # The command adds what the summary says of the final model (the ensemble) to the trial.
    final = ("final", "ensemble", "ensemble_skipped", "median_value")
    trial = {k: v for k, v in best.items() if k not in final}
    assert again is not None and {k: again[k] for k in trial} == trial


def test_hpsearch_trials_lists_each_number_once(resumed: FakeExperiment) -> None:
    shown = hpsearch("trials", "resumed", root=resumed.root)
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    # Best first (trial 1, then 0, 3, 2), the errored one last.
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", resumed.trial_ids[1], "completed"),
        ("0", resumed.trial_ids[0], "completed"),
        ("3", resumed.trial_ids[3], "completed"),
        ("2", resumed.trial_ids[2], "stopped"),
        ("4", resumed.trial_ids[4], "errored"),
    ]
    assert [r[3] for r in rows] == ["4", "4", "4", "3", "3"]  # epochs


def test_the_table_and_its_export_have_one_row_per_trial_and_epoch(
    resumed: FakeExperiment, tmp_path: Path
) -> None:
    table = load_experiment(str(resumed.path)).trials_table()
    keys = list(zip(table["trial_number"].to_pylist(), table["epoch"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 4 + 4 + 3 + 4 + 3
    assert sorted({n for n, _ in keys}) == list(range(5))
    ids = dict(zip(table["trial_number"].to_pylist(), table["trial_id"].to_pylist(), strict=True))
    assert ids == dict(enumerate(resumed.trial_ids))
    out = tmp_path / "trials.csv"
    exported = hpsearch("export", "resumed", "-o", str(out), root=resumed.root)
    assert exported.exit_code == 0, exported.output
    assert pacsv.read_csv(out).num_rows == len(keys)


def test_the_report_lists_each_number_once(resumed: FakeExperiment, tmp_path: Path) -> None:
    exp = load_experiment(str(resumed.path))
    text = Path(exp.report(str(tmp_path / "report.html"))).read_text()
    leaderboard = text.split('<table id="leaderboard">')[1].split("</table>")[0]
    numbers = [row.split("<td>")[1].split("</td>")[0] for row in leaderboard.split("<tr>")[2:]]
    assert sorted(numbers) == ["0", "1", "2", "3", "4"]


def test_a_killed_continuation_reads_as_one_interrupted_trial(killed: FakeExperiment) -> None:
    exp = load_experiment(str(killed.path))
    assert [(t.number, t.trial_id, t.runs) for t in exp.trials] == [
        (n, killed.trial_ids[n], runs) for n, runs in enumerate(killed.runs)
    ]
    one, two = exp.trial("1"), exp.trial("2")
    # Trial 1's continuation reported epoch 3 and has no checkpoint yet: the earlier
    # run's (epoch 2) is the one to continue from.
    assert (one.state, one.reason, one.epochs) == ("interrupted", "interrupted at epoch 3", 3)
    assert one.at_epoch(3)["resumed_from_epoch"] == 2
    assert one.checkpoint == str(killed.path / f"trial_{killed.runs[1][0]}" / "checkpoint_000000")
    # Trial 2's continuation reported nothing: the earlier run says where it is.
    assert (two.state, two.reason, two.epochs) == ("interrupted", "interrupted at epoch 3", 3)
    assert two.checkpoint == str(killed.path / f"trial_{killed.runs[2][0]}" / "checkpoint_000000")
    best = exp.best()
    assert best is not None and (best["number"], best["value"], best["epoch"]) == (1, 0.93, 3)


def test_a_running_continuation_is_running(tmp_path: Path) -> None:
    trials = (FakeTrial("running", epochs=2, score=0.70, runs=2, resumed_at=2),)
    fake = make_experiment(tmp_path, "live", trials=trials, state="running")
    (trial,) = load_experiment(str(fake.path)).trials
    assert (trial.trial_id, trial.runs, trial.state) == (fake.trial_ids[0], fake.runs[0], "running")


def test_a_continuation_that_failed_before_reporting_errored(tmp_path: Path) -> None:
    trials = (FakeTrial("errored", epochs=2, runs=2, resumed_at=2, error="OSError: gone"),)
    fake = make_experiment(tmp_path, "failed", trials=trials)
    (trial,) = load_experiment(str(fake.path)).trials
    assert (trial.state, trial.reason, trial.epochs) == ("errored", "OSError: gone", 3)
    assert trial.runs == fake.runs[0]
