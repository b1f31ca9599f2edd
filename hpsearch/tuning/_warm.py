"""Warm start: a new search's Optuna sampler seeded with a previous experiment's trials.

The previous experiment's ended trials are copied, marked as a warm start's,
into the new search's study from the previous study of record (its journal:
params, distributions, values), where the sampler learns from them.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.experiments import Experiment, load_experiment, open_study
from hpsearch.spaces import SpaceContext, call_space, get_space

#: Times the new space is sampled to learn its parameters (conditional ones included).
_PROBES = 64


def _space_distributions(config: SearchConfig, context: SpaceContext) -> dict[str, Any]:
    """Every parameter the new space can suggest, with its distribution."""
    space = get_space(config.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found: dict[str, Any] = {}
    for _ in range(_PROBES):
        trial = study.ask()
        call_space(space, config.space, trial, context)  # checked as every trial is
        found.update(trial.distributions)
        study.tell(trial, 0.0)
    return found


def _check_goals(previous: Experiment, config: SearchConfig, task: str) -> None:
    """Refuse a warm start whose trials were told other objectives or constraints: the
    sampler would learn from values that mean something else."""
    ours = [o.text for o in config.resolved_objectives(task)]
    theirs = [o.text for o in previous.objectives]
    if theirs != ours:
        raise UserError(
            f"--warm-start {previous.name}: it optimized {', '.join(theirs)}, "
            f"this search {', '.join(ours)}",
            "use the same --objective",
        )
    bounds = {c.text for c in config.parsed_constraints(task)}
    if {c.text for c in previous.constraints} != bounds:
        had = ", ".join(sorted(c.text for c in previous.constraints)) or "none"
        raise UserError(
            f"--warm-start {previous.name}: its constraints ({had}) differ from this "
            f"search's ({', '.join(sorted(bounds)) or 'none'})",
            "use the same --constraint",
        )


def _checked(trial: optuna.trial.FrozenTrial, bounds: set[str], source: str) -> None:
    """A warm trial's values and constraints are what a study takes (its journal is
    data from storage): refused in one line, before Ray starts, if not."""
    complete = trial.state == optuna.trial.TrialState.COMPLETE
    try:
        constraints = trial.constraints
        ok = (set(constraints) == bounds or not complete) and all(
            isinstance(v, float) and not math.isnan(v) for v in constraints.values()
        )
        values = trial.values or []
        ok = ok and all(isinstance(v, float) and math.isfinite(v) for v in values)
    except (TypeError, ValueError, AttributeError, OverflowError):
        ok = False
    if not ok:
        raise UserError(
            f"--warm-start {source}: its trial {trial.number} holds values or constraints "
            "a study cannot take back",
            "it is not the journal hpsearch writes",
        )


def warm_trials(
    config: SearchConfig, task: str, metric: str, mode: str, context: SpaceContext
) -> tuple[list[optuna.trial.FrozenTrial], str]:
    """The previous experiment's trials for the new study, and where they came from.

    Refused with a clear error when the two searches do not compare: another
    task, metric or direction, or parameters whose kind of range changed.
    """
    assert config.warm_start is not None
    previous = load_experiment(config.warm_start, config.storage_root())
    source = previous.name
    if previous.record.get("task") != task:
        raise UserError(
            f"--warm-start {source}: it searched {previous.record.get('task')}, this is {task}"
        )
    if (previous.metric, previous.mode) != (metric, mode):
        raise UserError(
            f"--warm-start {source}: it optimized {previous.metric} ({previous.mode}), "
            f"this search {metric} ({mode})",
            "use the same --metric and --mode",
        )
    _check_goals(previous, config, task)
    study = open_study(previous)  # its journal; rebuilt from its files if it predates one
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    usable = [t for t in study.trials if t.state in ended]
    bounds = {c.text for c in config.parsed_constraints(task)}
    for trial in usable:
        _checked(
            trial, bounds if trial.state == optuna.trial.TrialState.COMPLETE else set(), source
        )
    if not usable:
        raise UserError(f"--warm-start {source}: it has no finished trials to learn from")
    new = _space_distributions(config, context)
    shared = 0
    for trial in usable:
        for name, old in trial.distributions.items():
            if name not in new:
                continue
            shared += 1
            try:
                optuna.distributions.check_distribution_compatibility(old, new[name])
            except ValueError as exc:
                raise UserError(
                    f"--warm-start {source}: parameter {name!r} is not compatible ({exc})",
                    "warm start from a search over the same space",
                ) from None
    if shared == 0:
        raise UserError(
            f"--warm-start {source}: its space shares no parameter with {config.space!r}",
            "warm start from a search over the same space",
        )
    return usable, source
