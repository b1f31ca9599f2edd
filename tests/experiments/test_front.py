"""Several objectives and constraints, read back: each trial's point, feasibility, the
Pareto front, the best trial, the trials table and the report.

On the factory's search whose front is known by construction (:func:`make_front`):
four trials on a line (the more accurate, the slower), two dominated ones, one
infeasible trial (too many parameters) that would dominate them all, and an errored
one that would too.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hpsearch.errors import UserError
from hpsearch.experiments import STUDY_FILE, Experiment, load_experiment
from hpsearch.experiments._report import chart_figures
from hpsearch.objectives import Constraint, parse_constraints
from tests.factory import (
    CONSTRAINTS,
    DOMINATED,
    ERRORED,
    FRONT,
    INFEASIBLE,
    LINE,
    OBJECTIVES,
    FakeTrial,
    State,
    make_experiment,
    make_front,
)


@pytest.mark.parametrize("state", ["finished", "interrupted"])
def test_the_front_is_the_non_dominated_feasible_trials(tmp_path: Path, state: State) -> None:
    """Finished (with the summary) or killed (without): the same front and best."""
    exp = load_experiment(str(make_front(tmp_path, state).path))
    assert exp.multi_objective and [o.text for o in exp.objectives] == list(OBJECTIVES)
    assert [c.text for c in exp.constraints] == list(CONSTRAINTS)
    assert [t.number for t in exp.front()] == FRONT
    # Each trial's point: its metrics at the epoch where val_accuracy was best.
    three = exp.trial("3")
    assert exp.point(three) == {"val_accuracy": 0.90, "latency_ms": 4.0, "num_params": 1300}
    assert not exp.feasible(exp.trial(str(INFEASIBLE)))
    assert all(exp.feasible(t) for t in exp.trials if t.number != INFEASIBLE)
    # The best is the best feasible val_accuracy: not 0.99 (infeasible), nor 0.98 (errored).
    best = exp.best_trial()
    assert best is not None and best.number == 3
    info = exp.best()
    assert info is not None and info["number"] == 3
    assert info["values"] == {"val_accuracy": 0.90, "latency_ms": 4.0, "num_params": 1300}
    # The leaderboard: feasible trials by val_accuracy, then the infeasible, then the errored.
    assert [t.number for t in exp.leaderboard()] == [3, 2, 4, 1, 0, 5, INFEASIBLE, ERRORED]
    entries = exp.front_entries()
    assert [e["number"] for e in entries] == FRONT
    assert entries[-1]["values"] == {"val_accuracy": 0.75, "latency_ms": 1.0, "num_params": 1000}


def test_without_constraints_the_dominating_trial_is_the_front(tmp_path: Path) -> None:
    """The same trials with no bound on size: the 0.99-at-0.1-ms trial dominates all."""
    exp = load_experiment(str(make_front(tmp_path, constraints=()).path))
    assert [t.number for t in exp.front()] == [INFEASIBLE]
    best = exp.best_trial()
    assert best is not None and best.number == INFEASIBLE


def test_the_summary_holds_the_front_the_points_and_a_feasible_best(tmp_path: Path) -> None:
    summary = make_front(tmp_path).summary
    assert summary is not None
    assert summary["objectives"] == list(OBJECTIVES)
    assert summary["constraints"] == list(CONSTRAINTS)
    assert summary["front"] == FRONT and summary["best"]["number"] == 3
    rows = {r["number"]: r for r in summary["leaderboard"]}
    assert rows[INFEASIBLE]["feasible"] is False and rows[0]["feasible"] is True
    assert rows[INFEASIBLE]["values"]["num_params"] == 90_000


@pytest.mark.parametrize(
    ("pick", "number"),
    [
        (["latency_ms<=2"], 1),
        (["latency_ms<=3.5"], 2),
        (["latency_ms<=3", "num_params<=1150"], 1),
        (["val_accuracy>=0.85"], 3),
    ],
)
def test_a_pick_is_the_best_feasible_trial_meeting_every_condition(
    tmp_path: Path, pick: list[str], number: int
) -> None:
    exp = load_experiment(str(make_front(tmp_path).path))
    conditions = parse_constraints(pick, "classification")
    info = exp.best(conditions)
    assert info is not None and info["number"] == number
    assert info["pick"] == [c.text for c in conditions]
    # The test split was scored for the search's best only.
    assert (info["test"] is not None) == (number == 3)


def test_the_infeasible_trial_is_never_picked(tmp_path: Path) -> None:
    """Only the infeasible trial is as fast as 0.5 ms: nothing is picked."""
    exp = load_experiment(str(make_front(tmp_path).path))
    assert exp.best((Constraint("latency_ms", "<=", 0.5),)) is None


def test_a_summary_naming_an_infeasible_best_is_not_believed(tmp_path: Path) -> None:
    """summary.json is data from storage: a best that breaks a constraint is passed over."""
    fake = make_front(tmp_path)
    summary = json.loads((fake.path / "summary.json").read_text())
    summary["best"] |= {"trial_id": fake.trial_ids[INFEASIBLE], "number": INFEASIBLE}
    (fake.path / "summary.json").write_text(json.dumps(summary))
    best = load_experiment(str(fake.path)).best_trial()
    assert best is not None and best.number == 3


def test_the_trials_table_marks_the_front_and_the_feasible(tmp_path: Path) -> None:
    table = load_experiment(str(make_front(tmp_path).path)).trials_table()
    rows = {r["trial_number"]: r for r in table.to_pylist()}
    assert {n for n, r in rows.items() if r["front"]} == set(FRONT)
    assert {n for n, r in rows.items() if not r["feasible"]} == {INFEASIBLE}
    assert str(table.schema.field("front").type) == "bool"
    assert table.column_names[5:7] == ["front", "feasible"]  # after state and reason


def test_a_single_objective_search_has_neither_column(tmp_path: Path) -> None:
    exp = load_experiment(str(make_experiment(tmp_path, "plain").path))
    assert not exp.multi_objective and exp.constraints == ()
    assert [o.text for o in exp.objectives] == ["val_accuracy:max"]
    columns = exp.trials_table().column_names
    assert "front" not in columns and "feasible" not in columns
    info = exp.best()
    assert info is not None and "values" not in info and "objectives" not in info


def test_a_constrained_single_objective_search_has_a_feasible_column_only(tmp_path: Path) -> None:
    trials = [
        FakeTrial(score=0.9, model={"num_params": 9000}),
        FakeTrial(score=0.8),
    ]
    fake = make_experiment(tmp_path, "small", trials=trials, constraints=["num_params<=5000"])
    exp = load_experiment(str(fake.path))
    assert not exp.multi_objective
    columns = exp.trials_table().column_names
    assert "feasible" in columns and "front" not in columns
    best = exp.best_trial()
    assert best is not None and best.number == 1
    assert fake.summary is not None and fake.summary["front"] == [1]


def test_objectives_no_search_writes_make_the_experiment_unreadable(tmp_path: Path) -> None:
    fake = make_front(tmp_path)
    record = json.loads((fake.path / "hpsearch.json").read_text())
    (fake.path / "hpsearch.json").write_text(json.dumps(record | {"objectives": ["nope:max"]}))
    with pytest.raises(UserError, match="is unreadable: objective names 'nope'"):
        load_experiment(str(fake.path))


# The report ---------------------------------------------------------------------------


def write_journal(exp: Experiment) -> None:
    """The study of record as a search of several objectives writes it: two directions,
    metric names, each ended trial told its last epoch's values, its point (the epoch
    where val_accuracy was best) in ``best_values``, its violations as constraints."""
    path = Path(exp.location) / STUDY_FILE
    study = optuna.create_study(
        study_name=exp.name,
        storage=JournalStorage(JournalFileBackend(str(path))),
        directions=["maximize", "minimize"],
    )
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["val_accuracy", "latency_ms"])
    for trial in exp.trials:
        assert trial.optuna is not None
        point = exp.point(trial)
        last = trial.history[-1]
        complete = trial.state in ("completed", "stopped")
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE if complete else TrialState.FAIL,
                values=[last["val_accuracy"], last["latency_ms"]] if complete else None,
                params=trial.optuna["params"],
                distributions={
                    k: optuna.distributions.json_to_distribution(v)
                    for k, v in trial.optuna["distributions"].items()
                },
                user_attrs={"tune_trial_id": trial.trial_id, "best_values": point},
                constraints={c.text: c.violation(last[c.metric]) for c in exp.constraints},
            )
        )


def pareto_points(exp: Experiment) -> dict[str, set[tuple[float, float]]]:
    """The Pareto chart's points, by what Optuna calls them on hover: Best Trial,
    Feasible Trial, Infeasible Trial."""
    chart = next(c for c in chart_figures(exp) if c["title"] == "Pareto front")
    assert chart["figure"] is not None, chart["note"]
    found: dict[str, set[tuple[float, float]]] = {}
    for trace in chart["figure"].data:
        kind = re.search(r"<extra>(.*)</extra>", trace.hovertemplate)
        assert kind is not None
        found[kind.group(1)] = set(zip(trace.x or (), trace.y or (), strict=True))
    return found


@pytest.mark.parametrize("journal", [True, False])
def test_the_report_draws_the_front_at_each_trials_point(tmp_path: Path, journal: bool) -> None:
    """From the journal (each trial's recorded best_values) or rebuilt from the files."""
    exp = load_experiment(str(make_front(tmp_path).path))
    if journal:
        write_journal(exp)
    points = pareto_points(exp)
    # Each trial at its point (epoch 3), not as the study was told it (epoch 4: 0.02 less).
    assert points["Best Trial"] == {(acc, ms) for n, (acc, ms) in LINE.items()}
    assert points["Feasible Trial"] == set(DOMINATED.values())
    assert points["Infeasible Trial"] == {(0.99, 0.1)}
    text = Path(exp.report(str(tmp_path / "r.html"))).read_text()
    front = text.split('<table id="front">')[1].split("</table>")[0]
    numbers = re.findall(r"<tr><td>(\d+)</td>", front)
    assert [int(n) for n in numbers] == FRONT
    board = text.split('<table id="leaderboard">')[1].split("</table>")[0]
    assert "<th>front</th><th>feasible</th>" in board
    assert board.count("<td>no</td>") == 1  # the infeasible trial


def test_a_trial_only_the_summary_knows_keeps_its_point(tmp_path: Path) -> None:
    """A kill left none of trial 2's result files: the summary's row has its point."""
    fake = make_front(tmp_path)
    shutil.rmtree(fake.path / f"trial_{fake.trial_ids[2]}")
    exp = load_experiment(str(fake.path))
    assert exp.point(exp.trial("2")) == {
        "val_accuracy": 0.85,
        "latency_ms": 3.0,
        "num_params": 1200,
    }
    assert [t.number for t in exp.front()] == FRONT
