"""Describe a define-by-run space by running it through a real Optuna study."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from hpsearch.spaces._context import SpaceContext
from hpsearch.spaces._contract import Space


@dataclass(frozen=True)
class ParamInfo:
    """One parameter a space can sample."""

    name: str
    distribution: str
    conditional: bool


def _describe_distribution(dist: optuna.distributions.BaseDistribution) -> str:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return "choice of " + ", ".join(str(c) for c in dist.choices)
    if isinstance(
        dist, optuna.distributions.IntDistribution | optuna.distributions.FloatDistribution
    ):
        kind = "int" if isinstance(dist, optuna.distributions.IntDistribution) else "float"
        scale = " (log)" if dist.log else ""
        return f"{kind} in [{dist.low:g}, {dist.high:g}]{scale}"
    return repr(dist)


def describe_space(fn: Space, ctx: SpaceContext, samples: int = 300) -> list[ParamInfo]:
    """List every parameter ``fn`` samples, marking those that exist only sometimes.

    A define-by-run space has no static description, so it is explored with
    a seeded random sampler: conditional branches show up because every
    categorical choice is drawn many times over ``samples`` trials.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, optuna.distributions.BaseDistribution] = {}
    counts: dict[str, int] = {}
    for _ in range(samples):
        trial = study.ask()
        fn(trial, ctx)
        for name, dist in trial.distributions.items():
            seen.setdefault(name, dist)
            counts[name] = counts.get(name, 0) + 1
        study.tell(trial, 0.0)
    return [
        ParamInfo(name, _describe_distribution(dist), counts[name] < samples)
        for name, dist in seen.items()
    ]
