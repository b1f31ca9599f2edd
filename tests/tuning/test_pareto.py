"""Several objectives and constraints in the study of record, with Optuna alone (no Ray):
the rung rule that ranks trials on the front, what a trial is told, and resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.errors import UserError
from hpsearch.objectives import Goals, parse_constraints, parse_objectives
from hpsearch.tuning._progress import ProgressCallback
from hpsearch.tuning._pruners import HalvingPruner, ParetoHalving
from hpsearch.tuning._record import (
    StudyRecord,
    Told,
    kept_at,
    load_study,
    rebuilt_trials,
    told_values,
)
from hpsearch.tuning._samplers import build_sampler
from hpsearch.tuning._schedulers import StudyScheduler
from hpsearch.tuning._warm import _checked

NAME = "mo"
GOALS = Goals(
    parse_objectives("val_accuracy:max,latency_ms:min", "classification"),
    parse_constraints("num_params<=1000", "classification"),
)


def _study(entries: dict[int, dict[str, float]], epoch: int = 4) -> optuna.Study:
    """A study whose trial ``n`` had ``entries[n]`` at ``epoch`` (and nothing else)."""
    study = optuna.create_study(directions=GOALS.directions)
    for number in range(max(entries) + 1):
        attrs = {f"at:{epoch}": entries[number]} if number in entries else {}
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, user_attrs=attrs))
    return study


def _point(accuracy: float, latency: float, params: float = 500) -> dict[str, float]:
    return {"val_accuracy": accuracy, "latency_ms": latency, "num_params": params}


RULE = ParetoHalving(HalvingPruner(grace=4, factor=2, max_epochs=16), GOALS)


def test_a_small_fast_model_on_the_front_goes_on_where_one_metric_would_stop_it() -> None:
    # Trial 0 is the least accurate but the fastest: on the front, it goes on; trial 3
    # is dominated by 1 and 2, and the better half (2 of 4) is taken: it stops.
    study = _study(
        {0: _point(0.70, 0.01), 1: _point(0.95, 0.05), 2: _point(0.90, 0.03), 3: _point(0.85, 0.06)}
    )
    assert [RULE.stops(study, n, 4) for n in range(4)] == [False, False, False, True]
    # The same trials judged on accuracy alone (Optuna's own ranking of one value) stop 0.
    single = ParetoHalving(RULE.halving, Goals(GOALS.objectives[:1]))
    assert single.stops(study, 0, 4) and not single.stops(study, 1, 4)


def test_an_infeasible_trial_ranks_after_every_feasible_one() -> None:
    # Trial 0 would dominate everything, but breaks num_params<=1000.
    study = _study(
        {0: _point(0.99, 0.001, params=5000), 1: _point(0.80, 0.05), 2: _point(0.70, 0.06)}
    )
    assert RULE.stops(study, 0, 4)
    assert not RULE.stops(study, 1, 4)


def test_only_rungs_of_the_trials_bracket_are_judged_and_non_finite_stops() -> None:
    study = _study({0: _point(0.9, 0.01), 1: _point(0.1, 0.9)}, epoch=5)
    assert not RULE.stops(study, 1, 5)  # epoch 5 is no rung
    assert RULE.marks == {4, 8}
    study = _study({0: _point(0.9, 0.01), 1: {"val_accuracy": float("nan"), "latency_ms": 0.1}})
    assert RULE.stops(study, 1, 4)
    assert not RULE.stops(_study({0: _point(0.1, 0.9)}), 0, 4)  # alone at its rung


def create(location: str, pruner: optuna.pruners.BasePruner | None = None) -> StudyRecord:
    return StudyRecord.create(
        location,
        NAME,
        "maximize",  # unused: the goals' directions count
        optuna.samplers.RandomSampler(seed=0),
        pruner or optuna.pruners.NopPruner(),
        goals=GOALS,
    )


def define(trial: optuna.Trial) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True), "trial_number": trial.number}


def _run(record: StudyRecord, epochs: list[dict[str, float]], end: bool = True) -> int:
    number, _ = record.ask(define)
    for epoch, values in enumerate(epochs, start=1):
        record.note(number, epoch, values)
    if end:
        last = epochs[-1]
        record.set_attrs(number, **record.best_attrs(number))
        record.finish(number, TrialState.COMPLETE, told_values(GOALS, last), GOALS.violations(last))
    return number


def test_a_trial_is_told_every_objective_and_how_far_it_is_past_each_bound(
    tmp_path: Path,
) -> None:
    location = str(tmp_path / NAME)
    record = create(location)
    record.marks = frozenset({2, 4})
    fast = _run(
        record, [_point(0.6, 0.01), _point(0.7, 0.01), _point(0.65, 0.01), _point(0.8, 0.01)]
    )
    big = _run(record, [_point(0.9, 0.02, 4000), _point(0.99, 0.02, 4000)])
    mid = _run(record, [_point(0.9, 0.03), _point(0.85, 0.03)])
    record.close()
    study = load_study(location, NAME)
    assert study.metric_names == ["val_accuracy", "latency_ms"]
    assert study.user_attrs == {
        "objectives": ["val_accuracy:max", "latency_ms:min"],
        "constraints": ["num_params<=1000"],
    }
    trials = {t.number: t for t in study.trials}
    assert trials[fast].values == [0.8, 0.01]
    assert trials[big].constraints == {"num_params<=1000": 3.0}
    assert trials[mid].constraints == {"num_params<=1000": -0.5}
    # Kept only at the marks; the best by the primary (accuracy) with its metrics there.
    assert sorted(kept_at(trials[fast])) == [2, 4]
    assert trials[mid].user_attrs["best_epoch"] == 1
    assert trials[mid].user_attrs["best_values"] == _point(0.9, 0.03)
    # Optuna's front leaves the infeasible trial out, though it is the most accurate.
    assert sorted(t.number for t in study.best_trials) == [fast, mid]
    assert not trials[fast].intermediate_values  # Optuna takes none for several objectives
    # What the summary reads of a trial a kill left no result files of.
    told = Told.of(trials[mid], location)
    assert (told.epochs, told.best_epoch, told.best_values) == (2, 1, _point(0.9, 0.03))


def test_resume_keeps_what_the_checkpoint_holds_and_tells_what_ended_unheard(
    tmp_path: Path,
) -> None:
    location = str(tmp_path / NAME)
    record = create(location)
    record.marks = frozenset({2, 4, 6})
    done = _run(record, [_point(0.5, 0.01)] * 6)
    cut = _run(record, [_point(0.6, 0.02)] * 5, end=False)
    (tmp_path / NAME / "trial_a" / "checkpoint_000000").mkdir(parents=True)
    record.set_attrs(cut, checkpoint="trial_a/checkpoint_000000", checkpoint_epoch=3)
    stopped = _run(record, [_point(0.4, 0.03)] * 2, end=False)
    record.set_attrs(stopped, stopped_at=2)
    unheard = _run(record, [_point(0.7, 0.05)] * 6, end=False)
    record.sync(force=True)
    record.close()

    again = StudyRecord.reopen(
        location, NAME, optuna.samplers.RandomSampler(seed=1), optuna.pruners.NopPruner(), 6,
        goals=GOALS,
    )  # fmt: skip
    trials = {t.number: t for t in again.study.trials}
    assert len(again.study.directions) == 2
    assert trials[done].state == TrialState.COMPLETE
    # Continued from its epoch-3 checkpoint: what it kept after epoch 3 runs again.
    assert trials[cut].state == TrialState.WAITING and sorted(kept_at(trials[cut])) == [2]
    assert (trials[stopped].state, trials[stopped].values) == (TrialState.COMPLETE, [0.4, 0.03])
    assert trials[stopped].user_attrs["ended"] == "stopped"
    assert trials[unheard].user_attrs["ended"] == "completed"
    assert trials[unheard].constraints == {"num_params<=1000": -0.5}
    # Handed back first, under its own number, from its checkpoint.
    number, config = again.ask(define)
    assert number == cut and config["resume_from"].endswith("trial_a/checkpoint_000000")


@pytest.mark.parametrize("early", [True, False])
def test_a_model_past_a_size_bound_stops_at_once_when_early_stopping_is_on(
    tmp_path: Path, early: bool
) -> None:
    pruner = HalvingPruner(2, 2, 8) if early else optuna.pruners.NopPruner()
    record = create(str(tmp_path / NAME), pruner)
    scheduler = StudyScheduler(record, "val_accuracy", 8)
    number, _ = record.ask(define)
    trial = SimpleNamespace(config={"trial_number": number}, trial_id="t")  # Tune's trial, as read
    result = {"epoch": 1, **_point(0.9, 0.01, params=2000)}
    decision = scheduler.on_trial_result(None, trial, result)  # type: ignore[arg-type]
    assert decision == ("STOP" if early else "CONTINUE")
    kept = kept_at(record.study.trials[number])
    assert (kept == {1: _point(0.9, 0.01, 2000)}) is early


def test_metrics_kept_under_odd_keys_or_values_are_data_not_a_traceback(tmp_path: Path) -> None:
    location = str(tmp_path / NAME)
    record = create(location)
    number, _ = record.ask(define)
    # Only plain ASCII epochs count ("²" is a digit to str.isdigit; int() refuses it).
    record.set_attrs(number, **{"at:²": {}, "at:" + "9" * 5000: {}, "at:3": _point(0.5, 0.1)})
    assert kept_at(record.trials[number]) == {3: _point(0.5, 0.1)}
    # A value no float holds, where a resumed study would tell it: no value (no overflow),
    # so the trial is not told from it, and continues.
    record.set_attrs(number, stopped_at=3, **{"at:3": {**_point(0.5, 0.1), "latency_ms": 10**400}})
    record.sync(force=True)
    record.close()
    (rebuilt,) = rebuilt_trials(load_study(location, NAME), location, 6, GOALS)
    assert rebuilt.state == TrialState.WAITING


def test_a_warm_start_from_a_journal_with_odd_constraints_is_refused_in_one_line() -> None:
    def trial(constraints: Any) -> optuna.trial.FrozenTrial:
        made = optuna.trial.create_trial(values=[0.9, 0.1])
        made.system_attrs = {"constraints": constraints}  # the old format, as a journal may hold
        return made

    bounds = {"0"}
    _checked(trial([-1.0]), bounds, "earlier")  # a well-formed one passes
    for odd in (5, ["a"], [float("nan")], [-1.0, 2.0]):
        with pytest.raises(UserError, match=r"earlier: its trial .* holds values or constraints"):
            _checked(trial(odd), bounds, "earlier")


def test_the_live_best_is_the_best_trial_meeting_the_constraints() -> None:
    lines: list[str] = []
    progress = ProgressCallback(
        "val_accuracy", "max", 8, 2, lines.append, interval_s=0, constraints=GOALS.constraints
    )
    for number, point in enumerate([_point(0.99, 0.01, 5000), _point(0.8, 0.01, 500)]):
        trial = SimpleNamespace(config={"trial_number": number}, trial_id=f"t{number}")
        progress.on_trial_result(0, [], trial, {"epoch": 1, **point})  # type: ignore[arg-type]
    progress.on_step_end(0, [])
    assert lines and "best feasible val_accuracy 0.8000 (trial 1, epoch 1)" in lines[-1]


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "gp", "random", "qmc"])
def test_every_sampler_for_several_objectives_asks_on_after_constrained_trials(
    tmp_path: Path, sampler: str
) -> None:
    record = StudyRecord.create(
        str(tmp_path / NAME), NAME, "maximize", build_sampler(sampler, 0, 12),
        optuna.pruners.NopPruner(), goals=GOALS,
    )  # fmt: skip
    for i in range(12):  # past TPE's and GP's random start-up, and a generation of NSGA-II
        lr = record.ask(define)[1]["lr"]
        _run_asked(record, i, _point(0.5 + lr, 0.01 * (i + 1), params=400 * i))
    record.close()
    trials = load_study(str(tmp_path / NAME), NAME).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12
    assert {t.number for t in trials if t.constraints["num_params<=1000"] > 0} == set(range(3, 12))


def _run_asked(record: StudyRecord, number: int, last: dict[str, float]) -> None:
    record.note(number, 1, last)
    record.finish(number, TrialState.COMPLETE, told_values(GOALS, last), GOALS.violations(last))
