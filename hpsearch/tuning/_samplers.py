"""Optuna samplers by name: one frozen entry each, the shape of every registry."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from hpsearch.errors import lookup

#: (search seed, number of trials) -> a fresh sampler.
SamplerFactory = Callable[[int, int], optuna.samplers.BaseSampler]


@dataclass(frozen=True)
class SamplerEntry:
    """A registered sampler: how to build it, one line about it."""

    factory: SamplerFactory
    summary: str


def _tpe(seed: int, num_samples: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(
        seed=seed,
        # Model parameters jointly, and per group of co-occurring parameters,
        # which is what a define-by-run space with conditionals needs.
        multivariate=True,
        group=True,
        # Trials run in parallel: pretend pending ones scored badly so
        # concurrent suggestions do not pile onto the same point.
        constant_liar=True,
        # Optuna's default of 10 random trials is most of a 16-trial search;
        # start modelling after a third of the budget instead (3 to 10).
        n_startup_trials=max(3, min(10, num_samples // 3)),
    )


def _population(num_samples: int) -> int:
    """NSGA-II's generation size: Optuna's 50 would leave a 32-trial search random;
    a quarter of the trials gives it four generations (4 to 50)."""
    return max(4, min(50, num_samples // 4))


SAMPLERS: dict[str, SamplerEntry] = {
    "tpe": SamplerEntry(
        _tpe, "tree-structured Parzen estimator, grouped for conditional parameters (default)"
    ),
    "random": SamplerEntry(
        lambda seed, n: optuna.samplers.RandomSampler(seed=seed), "independent random draws"
    ),
    "cmaes": SamplerEntry(
        lambda seed, n: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
        "CMA evolution strategy on numeric parameters, the rest at random",
    ),
    "gp": SamplerEntry(
        lambda seed, n: optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False),
        "Gaussian-process Bayesian optimization",
    ),
    "qmc": SamplerEntry(
        lambda seed, n: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
        "quasi-Monte Carlo (Sobol): evenly spread points",
    ),
    "nsga2": SamplerEntry(
        lambda seed, n: optuna.samplers.NSGAIISampler(seed=seed, population_size=_population(n)),
        "NSGA-II genetic algorithm, for several objectives",
    ),
}


def build_sampler(name: str, seed: int, num_samples: int) -> optuna.samplers.BaseSampler:
    """The sampler registered as ``name``, seeded."""
    entry = lookup(SAMPLERS, "sampler", name)
    # Optuna logs every study creation and warns that ``group`` is experimental;
    # neither helps someone watching a search.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return entry.factory(seed, num_samples)
