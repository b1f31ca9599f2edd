"""The inspection commands from the CLI: output, filters, and mistakes (exit 2, one line).

In-process (click's runner) on experiments laid out by :mod:`tests.factory`;
what needs real weights or a real server runs on real searches, marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from hpsearch.commands import cli
from tests.factory import (
    FRONT,
    INFEASIBLE,
    FakeExperiment,
    FakeTrial,
    State,
    make_experiment,
    make_front,
)
from tests.searches import FinishedExperiment, InterruptedExperiment


def hpsearch(*args: str, root: Path | str | None = None) -> Result:
    """``hpsearch ARGS [--storage ROOT]``, in this process."""
    storage = [] if root is None else ["--storage", str(root)]
    return CliRunner().invoke(cli, [*args, *storage], prog_name="hpsearch")


@pytest.fixture
def finished(tmp_path: Path) -> FakeExperiment:
    return make_experiment(tmp_path / "results", "customers")


@pytest.fixture
def killed(tmp_path: Path) -> FakeExperiment:
    """A search whose driver was killed: one trial ended, two cut short (one with a checkpoint)."""
    trials = [
        FakeTrial("completed", score=0.8),
        FakeTrial("running", epochs=2, score=0.9),
        FakeTrial("running", epochs=1, score=0.7, checkpoints=False),
    ]
    return make_experiment(tmp_path / "results", "killed", trials=trials, state="interrupted")


def test_list_best_and_trials(finished: FakeExperiment) -> None:
    root, ids = finished.root, finished.trial_ids
    listing = hpsearch("list", root=root)
    assert listing.exit_code == 0, listing.output
    header, row = listing.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "STATE", "TRIALS", "BEST"]
    assert row.split()[:5] == ["customers", "finished", "6/6", "val_accuracy", "0.91"]

    best = json.loads(hpsearch("best", "customers", "--json", root=root).stdout)
    # DEFAULT_TRIALS: trial 0 scored 0.91 at epoch 3, the best of all.
    assert (best["trial_id"], best["number"], best["state"]) == (ids[0], 0, "completed")
    assert (best["value"], best["epoch"]) == (0.91, 3)
    # The factory's held-out scores: its validation scores at the best epoch, less 0.01.
    assert best["test"] == {"test_loss": pytest.approx(0.148), "test_accuracy": 0.9}
    text = hpsearch("best", "customers", root=root).stdout
    assert f"Best trial #{best['number']} ({best['trial_id']}, completed)" in text
    assert "held-out test: test_loss 0.148, test_accuracy 0.9" in text
    # The factory's ensemble: trials 0 (3 picks) and 2 (1 pick), adopted.
    assert best["final"] == "ensemble" and best["ensemble"]["picks"] == [0, 0, 0, 2]
    assert best["median_value"] == pytest.approx(0.72)
    assert (
        "\nEnsemble of 2 trials, 4 picks (0, 0, 0, 2): test_accuracy 0.9000 vs best single "
        "0.9000 (adopted: better on the check half of validation)" in text
    )

    # Scores 0.91, 0.72, 0.86, 0.55 (diverged), 0.6 (errored), 0.64: the errored one
    # cannot be the best and comes last, as in the summary's leaderboard.
    ranked = [ids[0], ids[2], ids[1], ids[5], ids[3], ids[4]]
    everything = hpsearch("trials", "customers", root=root).stdout.splitlines()
    assert [line.split()[1] for line in everything[1:]] == ranked
    top = hpsearch("trials", "customers", "--top", "2", root=root).stdout.splitlines()
    assert [line.split()[1] for line in top[1:]] == ranked[:2]
    by_loss = hpsearch("trials", "customers", "--sort", "val_loss", root=root).stdout.splitlines()
    assert by_loss[0].split()[4] == "VAL_LOSS"
    losses = [float(line.split()[4]) for line in by_loss[1:]]
    assert losses[:5] == sorted(losses[:5]) and len(losses) == 6
    assert by_loss[-1].split()[1:3] == [ids[4], "errored"]
    stopped = hpsearch("trials", "customers", "--state", "stopped", root=root).stdout.splitlines()
    stopped_ids = {line.split()[1] for line in stopped[1:]}
    assert stopped_ids == {finished.trial_ids[1], finished.trial_ids[5]}
    assert all(line.split()[2] == "stopped" for line in stopped[1:])


def test_trials_names_each_outcome_and_why(finished: FakeExperiment) -> None:
    out = hpsearch("trials", "customers", root=finished.root).stdout
    rows = {line.split()[1]: line for line in out.splitlines()[1:]}
    ids = finished.trial_ids
    assert " diverged " in rows[ids[3]] and "non-finite training loss at epoch 2" in rows[ids[3]]
    assert " errored " in rows[ids[4]] and "ValueError: the trial failed" in rows[ids[4]]
    assert "stopped early by the scheduler at epoch 1" in rows[ids[5]]


@pytest.mark.parametrize("state", ["finished", "running", "interrupted"])
def test_an_errored_trial_with_the_top_score_is_never_the_best(
    tmp_path: Path, state: State
) -> None:
    """``trials`` ranks it after the usable ones, as the summary does, saying it
    errored (with its score); ``best`` skips it.

    Without a summary (running, interrupted) hpsearch picks the best itself;
    once finished it shows the summary's pick (here the factory's).
    """
    trials = [
        FakeTrial("completed", score=0.8),
        FakeTrial("errored", epochs=2, score=0.97, error="RuntimeError: CUDA error"),
        FakeTrial("stopped", epochs=2, score=0.85),
    ]
    fake = make_experiment(tmp_path, "crashy", trials=trials, state=state)
    ids = fake.trial_ids
    ranked = hpsearch("trials", "crashy", root=tmp_path).stdout.splitlines()[1:]
    assert [line.split()[1:3] for line in ranked] == [
        [ids[2], "stopped"],
        [ids[0], "completed"],
        [ids[1], "errored"],
    ]
    assert "0.97" in ranked[2] and ranked[2].endswith("RuntimeError: CUDA error")
    best = json.loads(hpsearch("best", "crashy", "--json", root=tmp_path).stdout)
    # The errored trial has a checkpoint (epoch 2) too: only its state rules it out.
    assert (best["trial_id"], best["state"], best["value"]) == (ids[2], "stopped", 0.85)
    listing = hpsearch("list", root=tmp_path).stdout.splitlines()[1].split()
    assert listing[3:5] == ["val_accuracy", "0.85"]


def test_interrupted_experiment_from_the_cli(killed: FakeExperiment, tmp_path: Path) -> None:
    root = killed.root
    assert hpsearch("list", root=root).stdout.splitlines()[1].split()[:3] == [
        "killed",
        "interrupted",
        "1/3",
    ]
    best = hpsearch("best", "killed", root=root)
    assert best.exit_code == 0 and "not scored" in best.stdout
    # The best score with a checkpoint: the cut trial at 0.9, not the ended one at 0.8.
    assert f"({killed.trial_ids[1]}, interrupted)" in best.stdout
    cut = hpsearch("trials", "killed", "--state", "interrupted", root=root).stdout.splitlines()
    assert [line.split()[1] for line in cut[1:]] == list(killed.trial_ids[1:])
    assert "interrupted at epoch 2" in cut[1] and "interrupted at epoch 1" in cut[2]
    exported = hpsearch("export", "killed", "-o", str(tmp_path / "t.csv"), root=root)
    assert exported.exit_code == 0, exported.output
    states = pacsv.read_csv(tmp_path / "t.csv").column("state").to_pylist()
    assert states.count("interrupted") == 3 and states.count("completed") == 4  # rows per epoch


def test_a_running_search_is_shown_running(tmp_path: Path) -> None:
    trials = [
        FakeTrial("completed", score=0.8),
        FakeTrial("running", epochs=2, score=0.9),
        FakeTrial("running", epochs=1, score=0.95),  # no checkpoint yet: no weights to use
    ]
    running = make_experiment(tmp_path / "results", "live", trials=trials, state="running")
    row = hpsearch("list", root=running.root).stdout.splitlines()[1].split()
    assert row[:3] == ["live", "running", "1/3"]
    best = hpsearch("best", "live", root=running.root).stdout
    assert best.startswith("live (running), 1/3 trials ended\n")
    assert f"Best trial #1 ({running.trial_ids[1]}, running): val_accuracy 0.9 at epoch 2" in best


@pytest.mark.parametrize(
    ("ended", "state", "why"),
    [
        ("time_budget", "finished", "time budget reached"),
        ("interrupted", "interrupted", "stopped by the user (Ctrl-C)"),
        ("terminated", "interrupted", "stopped by SIGTERM"),
    ],
)
def test_a_search_that_ended_early_says_why(
    tmp_path: Path, ended: str, state: str, why: str
) -> None:
    trials = [FakeTrial("completed"), FakeTrial("running", epochs=2)]
    fake = make_experiment(tmp_path, "early", trials=trials, ended=ended, num_samples=5)
    assert hpsearch("list", root=tmp_path).stdout.splitlines()[1].split()[:3] == [
        "early",
        state,
        "1/5",
    ]
    best = hpsearch("best", "early", root=tmp_path).stdout
    assert best.startswith(f"early ({state}: {why}), 1/5 trials ended\n")
    cut = hpsearch("trials", "early", "--state", "interrupted", root=tmp_path).stdout
    assert fake.trial_ids[1] in cut and "interrupted at epoch 2" in cut


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["best", "nope"], "no experiment 'nope'"),
        (["trials", "customers", "--sort", "val_nope"], "no metric 'val_nope'"),
        (["trials", "customers", "--state", "odd"], "'odd' is not one of"),
        (["trials", "customers", "--top", "0"], "0 is not in the range x>=1"),
        (["export", "customers", "-o", "{tmp}/t.xlsx"], "unknown table format .xlsx"),
        (["report", "customers", "-o", "{tmp}/r.txt"], "it must end in .html"),
        (["export-model", "customers", "-o", "{tmp}/m.bin"], "it must end in .pt"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(
    finished: FakeExperiment, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = hpsearch(*(a.format(tmp=out) for a in args), root=finished.root)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert result.stderr.startswith("hpsearch: error: ")
    assert list(out.iterdir()) == []


def test_export_writes_a_table_and_report_writes_html(
    finished: FakeExperiment, tmp_path: Path
) -> None:
    out = hpsearch("export", "customers", "-o", str(tmp_path / "t.parquet"), root=finished.root)
    assert out.exit_code == 0 and "Wrote 14 rows" in out.stdout, out.output
    table = pq.read_table(tmp_path / "t.parquet")
    assert {"trial_id", "epoch", "val_accuracy", "params_lr", "state"} <= set(table.column_names)
    assert table.num_rows == 4 + 2 + 4 + 2 + 1 + 1  # one per trial and epoch
    report = hpsearch("report", "customers", "-o", str(tmp_path / "r.html"), root=finished.root)
    assert report.exit_code == 0, report.output
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<h1>customers</h1>" in html


@pytest.mark.ray
@pytest.mark.slow
def test_the_best_model_of_a_killed_search_exports(
    interrupted_experiment: InterruptedExperiment, tmp_path: Path
) -> None:
    """A killed search has no summary: export-model takes the best checkpoint there is."""
    model = hpsearch(
        "export-model", "killed", "-o", str(tmp_path / "m.pt"), root=interrupted_experiment.root
    )
    assert model.exit_code == 0 and (tmp_path / "m.pt").stat().st_size > 0, model.output


@pytest.mark.ray
@pytest.mark.slow
def test_inspection_reads_an_experiment_on_s3(
    finished_experiment: FinishedExperiment, s3_server: dict[str, str], tmp_path: Path
) -> None:
    """A real S3-compatible server (moto, 127.0.0.1): list, best, trials and export-model by URI."""
    from tests.data.conftest import s3_uri, upload_dir

    exp_uri = upload_dir(s3_server, finished_experiment.root / "customers", "lab/results/customers")
    root_uri = s3_uri(s3_server, "lab/results")
    listing = hpsearch("list", root=root_uri)
    assert listing.exit_code == 0 and "customers  finished  6/6" in listing.stdout
    best = json.loads(hpsearch("best", exp_uri, "--json").stdout)
    assert best["trial_id"] == finished_experiment.summary["best"]["trial_id"]
    assert best["checkpoint"].startswith("s3://lab/results/customers/trial_")
    assert len(hpsearch("trials", exp_uri).stdout.splitlines()) == 7
    exported = hpsearch("export-model", exp_uri, "-o", str(tmp_path / "m.pt"))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "m.pt").stat().st_size > 0


# Several objectives and constraints ---------------------------------------------------


@pytest.fixture
def pareto(tmp_path: Path) -> FakeExperiment:
    """The factory's search whose front is known: trials 3, 2, 1, 0."""
    return make_front(tmp_path / "results")


def test_best_shows_the_front_of_a_search_of_several_objectives(pareto: FakeExperiment) -> None:
    out = hpsearch("best", "pareto", root=pareto.root)
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "pareto (finished), 8/8 trials ended"
    assert lines[1].startswith(
        "Pareto front of val_accuracy:max, latency_ms:min, among trials meeting "
        "num_params<=5000: 4 trials"
    )
    assert lines[2].split()[:7] == [
        "#",
        "TRIAL",
        "STATE",
        "AT",
        "VAL_ACCURACY",
        "LATENCY_MS",
        "NUM_PARAMS",
    ]
    table = lines[3 : 3 + len(FRONT)]
    assert [int(line.split()[0]) for line in table] == FRONT
    assert table[0].split()[1:7] == [pareto.trial_ids[3], "completed", "3", "0.9", "4", "1300"]
    assert "--pick" in lines[-1]
    data = json.loads(hpsearch("best", "pareto", "--json", root=pareto.root).stdout)
    assert data["objectives"] == ["val_accuracy:max", "latency_ms:min"]
    assert data["constraints"] == ["num_params<=5000"]
    assert [f["number"] for f in data["front"]] == FRONT
    assert INFEASIBLE not in [f["number"] for f in data["front"]]
    assert data["front"][-1]["values"] == {
        "val_accuracy": 0.75,
        "latency_ms": 1.0,
        "num_params": 1000,
    }
    # The list's BEST: the best feasible val_accuracy (not the infeasible 0.99).
    assert hpsearch("list", root=pareto.root).stdout.splitlines()[1].split()[3:5] == [
        "val_accuracy",
        "0.9",
    ]


def test_pick_chooses_the_best_feasible_trial_meeting_the_conditions(
    pareto: FakeExperiment,
) -> None:
    root, ids = pareto.root, pareto.trial_ids
    text = hpsearch("best", "pareto", "--pick", "latency_ms<=2", root=root)
    assert text.exit_code == 0, text.output
    assert f"Best trial #1 ({ids[1]}, completed): val_accuracy 0.8 at epoch 3" in text.stdout
    assert "  at epoch 3: val_accuracy 0.8, latency_ms 2, num_params 1100" in text.stdout
    assert "  picked: the best val_accuracy among the trials meeting latency_ms<=2" in text.stdout
    # Not the search's best: its test split was never scored.
    assert "held-out test: not scored" in text.stdout
    both = ["--pick", "latency_ms<=3.5", "--pick", "num_params<=1150", "--json"]
    data = json.loads(hpsearch("best", "pareto", *both, root=root).stdout)
    assert (data["number"], data["pick"]) == (1, ["latency_ms<=3.5", "num_params<=1150"])
    best = json.loads(
        hpsearch("best", "pareto", "--pick", "latency_ms<=9", "--json", root=root).stdout
    )
    assert best["number"] == 3 and best["test"] is not None


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        # Only the infeasible trial (90,000 parameters) is that fast.
        ("latency_ms<=0.5", "no feasible trial of 'pareto' meets latency_ms<=0.5"),
        ("latency_1024_ms<=5", "no trial of 'pareto' reported latency_1024_ms"),
        ("latency_ms<1", "--pick: constraint 'latency_ms<1' is not METRIC<=NUMBER"),
        ("speed>=1", "--pick: constraint names 'speed', which is not reported"),
        ("latency_ms<=fast", "--pick: constraint 'latency_ms<=fast': 'fast' is not a finite"),
    ],
)
def test_a_pick_nothing_meets_or_that_is_malformed_is_one_line(
    pareto: FakeExperiment, pick: str, message: str
) -> None:
    for extra in ([], ["--json"]):
        result = hpsearch("best", "pareto", "--pick", pick, *extra, root=pareto.root)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("hpsearch: error: ") and result.stderr.count("\n") == 1
        assert message in result.stderr, result.stderr
        assert result.stdout == ""


def test_trials_marks_the_front_and_the_infeasible(pareto: FakeExperiment) -> None:
    lines = hpsearch("trials", "pareto", root=pareto.root).stdout.splitlines()
    header = lines[0].split()
    assert header[:9] == [
        "#", "TRIAL", "STATE", "EPOCHS", "VAL_ACCURACY", "AT", "LATENCY_MS", "NUM_PARAMS", "FRONT",
    ]  # fmt: skip
    assert header[9] == "FEASIBLE"
    rows = {int(line.split()[0]): line.split() for line in lines[1:]}
    assert {n for n, row in rows.items() if row[8] == "yes"} == set(FRONT)
    assert {n for n, row in rows.items() if row[9] == "no"} == {INFEASIBLE}
    # Ranked: the feasible by val_accuracy, then the infeasible, then the errored.
    assert list(rows) == [3, 2, 4, 1, 0, 5, INFEASIBLE, 7]
    assert rows[INFEASIBLE][4] == "0.99" and rows[INFEASIBLE][7] == "90000"
    # Sorted by another metric of the point: it has its column once; the primary stays.
    by_latency = hpsearch("trials", "pareto", "--sort", "latency_ms", root=pareto.root)
    assert by_latency.stdout.split()[:8] == [
        "#", "TRIAL", "STATE", "EPOCHS", "LATENCY_MS", "AT", "VAL_ACCURACY", "NUM_PARAMS",
    ]  # fmt: skip


def test_a_single_objective_search_shows_no_front_columns(finished: FakeExperiment) -> None:
    header = hpsearch("trials", "customers", root=finished.root).stdout.splitlines()[0]
    assert header.split()[:6] == ["#", "TRIAL", "STATE", "EPOCHS", "VAL_ACCURACY", "AT"]
    assert "FRONT" not in header and "FEASIBLE" not in header
    text = hpsearch("best", "customers", root=finished.root).stdout
    assert "Pareto" not in text and "picked" not in text and "  at epoch" not in text
    picked = hpsearch("best", "customers", "--pick", "val_loss<=0.3", root=finished.root)
    assert picked.exit_code == 0 and "Best trial #0 " in picked.stdout
