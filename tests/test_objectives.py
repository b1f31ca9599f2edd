"""Objectives and constraints: how they are written and refused, and the Pareto arithmetic,
checked against Optuna's own (private) implementations on random point sets."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pytest
from optuna._hypervolume import compute_hypervolume
from optuna.samplers.nsgaii._elite_population_selection_strategy import (
    NSGAIIElitePopulationSelectionStrategy,
    _calc_crowding_distance,
)
from optuna.study._multi_objective import _fast_non_domination_rank

from hpsearch.errors import UserError
from hpsearch.objectives import (
    Constraint,
    Objective,
    crowding,
    dominates,
    hypervolume,
    is_feasible,
    known_metrics,
    losses,
    nondominated_ranks,
    pareto_front,
    parse_constraints,
    parse_objectives,
    penalty,
    survivors,
)

# Writing them -------------------------------------------------------------------------


def test_objectives_read_as_text_or_a_list_with_the_metrics_own_direction() -> None:
    assert parse_objectives("val_accuracy:max, latency_ms:min", "classification") == (
        Objective("val_accuracy", "max"),
        Objective("latency_ms", "min"),
    )
    assert parse_objectives(["val_r2", "num_params,val_rmse:max"], "regression") == (
        Objective("val_r2", "max"),
        Objective("num_params", "min"),
        Objective("val_rmse", "max"),  # the user's direction wins
    )
    # The task not known yet (a table, task auto): any task's metric.
    assert [o.text for o in parse_objectives("val_rmse,val_accuracy", None)] == [
        "val_rmse:min",
        "val_accuracy:max",
    ]


def test_constraints_read_back_from_their_text_exactly() -> None:
    parsed = parse_constraints(["num_params<=2e4", " latency_ms >= 0.5 ,val_r2>=-1"], None)
    assert parsed == (
        Constraint("num_params", "<=", 20000.0),
        Constraint("latency_ms", ">=", 0.5),
        Constraint("val_r2", ">=", -1.0),
    )
    assert [c.text for c in parsed] == ["num_params<=20000", "latency_ms>=0.5", "val_r2>=-1"]
    for bound in (1234567.0, 0.1, 1e-7, 3e20, 123456.789):
        constraint = Constraint("num_params", "<=", bound)
        assert parse_constraints(constraint.text, None) == (constraint,), constraint.text


REFUSED = [
    (parse_objectives, "val_accuracy:up", "objective 'val_accuracy:up' is not METRIC or"),
    (parse_objectives, "val_rmse", "objective names 'val_rmse', which is not reported for"),
    (parse_objectives, "epochs:max", "choose one of: val_accuracy, val_loss, train_loss, num_"),
    (parse_objectives, "val_loss,val_loss:max", "objective 'val_loss' is given twice"),
    (parse_objectives, " , ", "holds an empty objective or condition"),
    (parse_objectives, (), "no objective given"),
    (parse_objectives, [3], "objectives and constraints are text"),
    (parse_constraints, "num_params<20000", "is not METRIC<=NUMBER or METRIC>=NUMBER"),
    (parse_constraints, "num_params<=lots", "'lots' is not a finite number"),
    (parse_constraints, "latency_ms<=inf", "'inf' is not a finite number"),
    (parse_constraints, "latency_ms<=nan", "'nan' is not a finite number"),
    (parse_constraints, "val_r2>=0.5", "constraint names 'val_r2', which is not reported"),
    (parse_constraints, "num_params<=1e4,num_params<=10000", "'num_params<=10000' is given twice"),
]


@pytest.mark.parametrize(("parse", "spec", "message"), REFUSED)
def test_mistakes_are_one_user_error_naming_them(
    parse: Callable[[Any, str], object], spec: Any, message: str
) -> None:
    with pytest.raises(UserError) as caught:
        parse(spec, "classification")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_losses_penalties_and_feasibility() -> None:
    objectives = (Objective("val_accuracy", "max"), Objective("latency_ms", "min"))
    assert losses({"val_accuracy": 0.9, "latency_ms": 0.2}, objectives) == (-0.9, 0.2)
    assert losses({"val_accuracy": float("nan")}, objectives) == (math.inf, math.inf)
    bounds = parse_constraints("num_params<=1000,val_accuracy>=0.5", "classification")
    assert penalty({"num_params": 1500, "val_accuracy": 0.25}, bounds) == pytest.approx(1.0)
    assert is_feasible({"num_params": 1000, "val_accuracy": 0.5}, bounds)
    assert not is_feasible({"num_params": 1000}, bounds)  # a missing value never meets one
    assert dominates((1, 1), (1, 2)) and not dominates((1, 1), (1, 1))


# The Pareto arithmetic, against Optuna's ---------------------------------------------


def point_sets(seed: int, count: int = 60) -> list[tuple[list[tuple[float, ...]], list[float]]]:
    """Random loss vectors (2 or 3 objectives, some on a coarse grid: ties and duplicates)
    with penalties (most feasible, some sharing a value)."""
    rng = random.Random(seed)
    sets = []
    for _ in range(count):
        n, dims, coarse = rng.randint(1, 40), rng.choice((2, 3)), rng.random() < 0.4
        value = (lambda: float(rng.randint(0, 5))) if coarse else rng.random
        points = [tuple(value() for _ in range(dims)) for _ in range(n)]
        penalties = [
            0.0 if rng.random() < 0.7 else rng.choice((0.5, 1.0, rng.random())) for _ in range(n)
        ]
        sets.append((points, penalties))
    return sets


def distinct(points: list[tuple[float, ...]], rng: random.Random) -> list[tuple[float, ...]]:
    """``points`` nudged apart: among tied values, the order two sorts credit with crowding
    is arbitrary (Optuna's differs from ours), so crowding is compared without ties."""
    return [tuple(x + 1e-9 * rng.random() for x in p) for p in points]


def frozen(
    points: list[tuple[float, ...]], penalties: list[float]
) -> list[optuna.trial.FrozenTrial]:
    trials = []
    for number, (point, pen) in enumerate(zip(points, penalties, strict=True)):
        trial = optuna.trial.create_trial(values=list(point), constraints={"c": pen})
        trial.number = number
        trials.append(trial)
    return trials


@pytest.mark.parametrize("constrained", [False, True])
def test_nondominated_ranks_and_the_front_are_optunas(constrained: bool) -> None:
    for points, penalties in point_sets(seed=17):
        pen = penalties if constrained else None
        expected = _fast_non_domination_rank(
            np.array(points), penalty=np.array(pen) if pen is not None else None
        )
        assert nondominated_ranks(points, pen) == expected.tolist()
        ok = pen if pen is not None else [0.0] * len(points)
        front = [i for i, r in enumerate(expected) if r == 0 and ok[i] <= 0]
        assert pareto_front(points, pen) == front


def test_crowding_is_optunas() -> None:
    rng = random.Random(5)
    for points, _ in point_sets(seed=5):
        points = distinct(points, rng)
        if rng.random() < 0.3:  # an objective where all are equal counts for nothing
            points = [(*p[:-1], 0.5) for p in points]
        expected = _calc_crowding_distance(frozen(points, [0.0] * len(points)))
        got = crowding(points)
        assert got == pytest.approx([expected[i] for i in range(len(points))])


def test_survivors_are_nsga2s_elite_plus_the_whole_front() -> None:
    rng = random.Random(23)
    for points, penalties in point_sets(seed=23):
        if len(points) < 2:
            continue
        points = distinct(points, rng)
        study = optuna.create_study(directions=["minimize"] * len(points[0]))
        front = set(pareto_front(points, penalties))
        for keep in {2, len(points) // 3, len(points) // 2, len(points)} - {0, 1}:
            elite = NSGAIIElitePopulationSelectionStrategy(population_size=keep)
            chosen = {t.number for t in elite(study, frozen(points, penalties))}
            got = survivors(points, penalties, keep)
            assert front <= got and len(got) == max(keep, len(front))
            # Among equally crowded points (the boundary ones: inf) either may be kept.
            assert kept(points, penalties, got) == kept(points, penalties, chosen | front)


def kept(
    points: list[tuple[float, ...]], penalties: list[float], chosen: set[int]
) -> list[tuple[int, float]]:
    """What ``chosen`` is, up to ties: each one's (front, crowding within its front)."""
    ranks = nondominated_ranks(points, penalties)
    spread: dict[int, float] = {}
    for rank in set(ranks):
        members = [i for i in range(len(points)) if ranks[i] == rank]
        spread.update(zip(members, crowding([points[i] for i in members]), strict=True))
    return sorted((ranks[i], -spread[i]) for i in chosen)


def test_hypervolume_is_optunas() -> None:
    rng = random.Random(3)
    for points, _ in point_sets(seed=3):
        reference = [rng.uniform(0.8, 6.0) for _ in points[0]]
        inside = [p for p in points if all(x <= r for x, r in zip(p, reference, strict=True))]
        expected = compute_hypervolume(
            np.array(inside).reshape(-1, len(reference)), np.array(reference)
        )
        # Points beyond the reference add nothing.
        assert hypervolume(points, reference) == pytest.approx(expected, abs=1e-12)
    assert hypervolume([(1.0, 1.0)], (2.0, 3.0)) == 2.0
    assert hypervolume([(0.0,), (1.0,)], (2.0,)) == 2.0


def test_an_unknown_task_accepts_every_task_s_metrics() -> None:
    # hpsearch.json is data from storage: a task no release wrote is no KeyError.
    assert set(known_metrics("no such task")) == set(known_metrics(None))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "'' holds an empty objective or condition"),
        ("num_params<=100,,latency_ms<=1", "holds an empty objective or condition"),
        ("num_params<=1,000", "'000' is not an objective or a condition"),
    ],
)
def test_an_empty_or_cut_condition_is_said_not_dropped(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        parse_constraints(spec, None)
    assert parse_constraints((), None) == ()  # none given: none
