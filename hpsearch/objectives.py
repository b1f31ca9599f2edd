"""Several objectives and constraints: how they are written, and the Pareto arithmetic.

One module for the config (parsing ``val_accuracy:max,latency_ms:min`` and
``num_params<=20000``), the scheduler (ranking the trials at a rung) and inspection
(the front a finished search shows), so a trial is on the front, or feasible, by
the same rule everywhere. Pure Python: `hpsearch best` imports it, and the sets it
ranks are a search's trials (tens to thousands), where O(n²) comparisons are cheap.

Every function that ranks works on *losses*: objective values turned so that lower
is better (:func:`losses`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hpsearch.errors import UserError
from hpsearch.metrics import TASK_METRICS, Mode, is_finite, metric_mode

#: What the trainable reports about a trial's model, besides its scores: its size, and
#: its median CPU inference latency in milliseconds for one row and for 1,024 rows
#: (measured only when an objective or a constraint names one of them).
MODEL_METRICS: dict[str, Mode] = {
    "num_params": "min",
    "latency_ms": "min",
    "latency_1024_ms": "min",
}
LATENCY_METRICS = ("latency_ms", "latency_1024_ms")

_OBJECTIVE_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(min|max)\s*)?")
_CONSTRAINT_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*(\S+)\s*")


@dataclass(frozen=True)
class Objective:
    """A metric to optimize, and which way."""

    metric: str
    mode: Mode

    @property
    def text(self) -> str:
        """``metric:mode``, as the user writes it."""
        return f"{self.metric}:{self.mode}"


@dataclass(frozen=True)
class Constraint:
    """A bound a trial's metric must meet to count: ``metric <= bound`` or ``>=``."""

    metric: str
    op: Literal["<=", ">="]
    bound: float

    @property
    def text(self) -> str:
        """``metric<=bound``, as the user writes it (the bound exactly: it reads back)."""
        bound = repr(self.bound)
        return f"{self.metric}{self.op}{bound.removesuffix('.0')}"

    def violation(self, value: Any) -> float:
        """How far ``value`` is past the bound (0 or less: met; ``inf``: no value)."""
        if not is_finite(value):
            return math.inf
        return float(value) - self.bound if self.op == "<=" else self.bound - float(value)

    def relative(self, value: Any) -> float:
        """:meth:`violation` relative to the bound, so that milliseconds and parameter
        counts add up (what the samplers and the rung rule rank infeasible trials by)."""
        return self.violation(value) / max(abs(self.bound), 1e-12)


def known_metrics(task: str | None) -> dict[str, Mode]:
    """The metrics an objective or a constraint may name, with their natural direction:
    the task's scores (every task's when it is not known yet) and the model's."""
    tasks = [task] if task in TASK_METRICS else list(TASK_METRICS)  # unknown: any task's
    found: dict[str, Mode] = {}
    for name in tasks:
        found.update(TASK_METRICS[name])
    return {**found, **MODEL_METRICS}


def _split(spec: str | Sequence[str]) -> list[str]:
    """``"a,b"`` or ``["a", "b,c"]`` as ``["a", "b", "c"]``."""
    parts = [spec] if isinstance(spec, str) else list(spec)
    if not all(isinstance(p, str) for p in parts):
        raise UserError("objectives and constraints are text, e.g. 'val_accuracy:max'")
    items = [item for part in parts for item in part.split(",")]
    for part, item in ((p, i) for p in parts for i in p.split(",")):
        if not item.strip():  # `--pick ""` or "a,,b": said, not silently dropped
            raise UserError(f"{part!r} holds an empty objective or condition")
        if item.strip().isdigit():
            raise UserError(
                f"{part!r}: {item.strip()!r} is not an objective or a condition",
                "write numbers without thousands separators, e.g. num_params<=20000",
            )
    return items


def parse_objectives(spec: str | Sequence[str], task: str | None) -> tuple[Objective, ...]:
    """``val_accuracy:max,latency_ms:min`` as objectives; a missing direction is the
    metric's natural one. A mistake is one :class:`UserError` naming it."""
    known = known_metrics(task)
    objectives: list[Objective] = []
    for item in _split(spec):
        match = _OBJECTIVE_RE.fullmatch(item)
        if match is None:
            raise UserError(f"objective {item.strip()!r} is not METRIC or METRIC:min|max")
        metric, mode = match.group(1), match.group(2)
        _check_known(metric, known, "objective", task)
        if any(o.metric == metric for o in objectives):
            raise UserError(f"objective {metric!r} is given twice")
        natural = known.get(metric) or metric_mode(metric)
        objectives.append(Objective(metric, "max" if (mode or natural) == "max" else "min"))
    if not objectives:
        raise UserError("no objective given", "e.g. --objective val_accuracy:max,latency_ms:min")
    return tuple(objectives)


def parse_constraints(spec: str | Sequence[str], task: str | None) -> tuple[Constraint, ...]:
    """``num_params<=20000`` (several: a list, or commas) as constraints."""
    known = known_metrics(task)
    constraints: list[Constraint] = []
    for item in _split(spec):
        match = _CONSTRAINT_RE.fullmatch(item)
        if match is None:
            raise UserError(
                f"constraint {item.strip()!r} is not METRIC<=NUMBER or METRIC>=NUMBER",
                "e.g. --constraint 'num_params<=20000'",
            )
        metric, op, bound = match.groups()
        _check_known(metric, known, "constraint", task)
        try:
            value = float(bound)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UserError(f"constraint {item.strip()!r}: {bound!r} is not a finite number")
        constraint = Constraint(metric, op, value)  # type: ignore[arg-type]  # the regex's two
        if constraint in constraints:
            raise UserError(f"constraint {constraint.text!r} is given twice")
        constraints.append(constraint)
    return tuple(constraints)


def _check_known(metric: str, known: Mapping[str, Mode], what: str, task: str | None) -> None:
    if metric not in known:
        where = f" for {task}" if task else ""
        raise UserError(
            f"{what} names {metric!r}, which is not reported{where}",
            f"choose one of: {', '.join(known)}",
        )


# Ranking ------------------------------------------------------------------------------


def losses(values: Mapping[str, Any], objectives: Sequence[Objective]) -> tuple[float, ...]:
    """A trial's objective values as losses (a maximized one negated); ``inf`` where a
    value is missing or not finite, so such a trial is dominated by any real one."""
    out = []
    for objective in objectives:
        value = values.get(objective.metric)
        if not is_finite(value):
            out.append(math.inf)
        else:
            out.append(-float(value) if objective.mode == "max" else float(value))
    return tuple(out)


def penalty(values: Mapping[str, Any], constraints: Sequence[Constraint]) -> float:
    """How far a trial is from meeting every constraint: the sum of each violation
    relative to its bound (so milliseconds and parameter counts add up); 0: feasible."""
    return sum(max(0.0, c.relative(values.get(c.metric))) for c in constraints)


def is_feasible(values: Mapping[str, Any], constraints: Sequence[Constraint]) -> bool:
    """Whether a trial meets every constraint."""
    return all(c.violation(values.get(c.metric)) <= 0 for c in constraints)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether losses ``a`` are nowhere worse than ``b`` and somewhere better."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def _dominated(points: Sequence[Sequence[float]], i: int, among: set[int]) -> bool:
    return any(dominates(points[j], points[i]) for j in among)


def nondominated_ranks(
    points: Sequence[Sequence[float]], penalties: Sequence[float] | None = None
) -> list[int]:
    """Each point's front: 0 for the non-dominated, 1 for those only they dominate, ...

    With ``penalties``, the constrained ranking: feasible points (penalty 0) by their
    fronts, then the infeasible ones after them, by increasing penalty (equal
    penalties share a rank), as Optuna's constrained NSGA-II and TPE order them.
    """
    penalties = list(penalties) if penalties is not None else [0.0] * len(points)
    feasible = [i for i, p in enumerate(penalties) if p <= 0]
    ranks = [0] * len(points)
    remaining = set(feasible)
    rank = 0
    while remaining:
        front = {i for i in remaining if not _dominated(points, i, remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    infeasible = sorted({penalties[i] for i in range(len(points)) if penalties[i] > 0})
    for i, p in enumerate(penalties):
        if p > 0:
            ranks[i] = rank + infeasible.index(p)
    return ranks


def crowding(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point within its set: the boundary points
    of every objective get ``inf``, the others the normalized gap between their
    neighbours, summed over objectives."""
    n = len(points)
    distance = [0.0] * n
    if n == 0:
        return distance
    for k in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][k])
        low, high = points[order[0]][k], points[order[-1]][k]
        if low == high:
            continue  # an objective where all are equal favours no point (as in Optuna)
        distance[order[0]] = distance[order[-1]] = math.inf
        span = high - low
        if not math.isfinite(span):
            continue
        for before, i, after in zip(order, order[1:], order[2:], strict=False):
            distance[i] += (points[after][k] - points[before][k]) / span
    return distance


def pareto_front(
    points: Sequence[Sequence[float]], penalties: Sequence[float] | None = None
) -> list[int]:
    """The indices of the non-dominated feasible points (with ``penalties``), in order."""
    ranks = nondominated_ranks(points, penalties)
    ok = [p <= 0 for p in penalties] if penalties is not None else [True] * len(points)
    real = [all(map(math.isfinite, p)) for p in points]
    return [i for i, r in enumerate(ranks) if r == 0 and ok[i] and real[i]]


def survivors(points: Sequence[Sequence[float]], penalties: Sequence[float], keep: int) -> set[int]:
    """Who goes on at a rung: the first ``keep`` by (front, then crowding, widest first),
    and every point of the first feasible front whatever ``keep`` is, so a small, fast
    model is never stopped for being less accurate than a large one."""
    ranks = nondominated_ranks(points, penalties)
    order: list[int] = []
    for rank in sorted(set(ranks)):
        members = [i for i in range(len(points)) if ranks[i] == rank]
        spread = crowding([points[i] for i in members])
        widest = sorted(zip(spread, members, strict=True), key=lambda p: (-p[0], p[1]))
        order += [m for _, m in widest]
    return set(order[:keep]) | set(pareto_front(points, penalties))


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume of loss space the points dominate, up to ``reference`` (points not
    below it in every objective add nothing). Exact, by slicing the first objective:
    fine for the two or three objectives and the front sizes a search has."""
    inside = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference, strict=True))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in inside)
    inside = [inside[i] for i in pareto_front(inside)]
    inside.sort(key=lambda p: p[0])
    total = 0.0
    for i, point in enumerate(inside):
        width = (inside[i + 1][0] if i + 1 < len(inside) else reference[0]) - point[0]
        if width > 0:
            total += width * hypervolume([p[1:] for p in inside[: i + 1]], reference[1:])
    return total


@dataclass(frozen=True)
class Goals:
    """What a search optimizes and under which bounds: its objectives (the first is the
    primary: the one metric Tune, the kept weights and every single-score view use) and
    its constraints."""

    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()

    @property
    def primary(self) -> Objective:
        """The first objective."""
        return self.objectives[0]

    @property
    def multi(self) -> bool:
        """Several objectives: a Pareto front, not one best value."""
        return len(self.objectives) > 1

    @property
    def ranked(self) -> bool:
        """Whether trials are judged on their metrics together (several objectives, or
        any constraint), not on the primary's value alone."""
        return self.multi or bool(self.constraints)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the objectives and constraints name, each once, in order."""
        names = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        return tuple(dict.fromkeys(names))

    @property
    def directions(self) -> list[Literal["minimize", "maximize"]]:
        """Optuna's direction of each objective."""
        return ["maximize" if o.mode == "max" else "minimize" for o in self.objectives]

    def hopeless(self, values: Mapping[str, Any]) -> bool:
        """Whether a trial breaks a constraint on its model (size, latency): those do not
        change with training, so it can never become feasible."""
        fixed = [c for c in self.constraints if c.metric in MODEL_METRICS]
        return any(c.metric in values and c.violation(values[c.metric]) > 0 for c in fixed)

    def measured(self, result: Mapping[str, Any]) -> dict[str, float]:
        """The finite values, in an epoch's ``result``, of the metrics these goals name."""
        return {m: float(result[m]) for m in self.metrics if is_finite(result.get(m))}

    def violations(self, values: Mapping[str, Any]) -> dict[str, float]:
        """How far ``values`` are past each constraint relative to its bound, by its text:
        Optuna's constraint values (feasible at 0 or less)."""
        return {c.text: c.relative(values.get(c.metric)) for c in self.constraints}

    def front(self, points: Sequence[Mapping[str, Any]]) -> list[int]:
        """The indices of the feasible ``points`` (each trial's metrics) that no other
        dominates on the objectives: the Pareto front, in the order given."""
        return pareto_front(
            [losses(p, self.objectives) for p in points],
            [penalty(p, self.constraints) for p in points],
        )
