"""Optuna samplers by name."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna

SamplerFactory = Callable[[int, int], optuna.samplers.BaseSampler]


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


SAMPLERS: dict[str, SamplerFactory] = {
    "tpe": _tpe,
    "random": lambda seed, n: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, n: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "gp": lambda seed, n: optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False),
    "qmc": lambda seed, n: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
}


def build_sampler(name: str, seed: int, num_samples: int) -> optuna.samplers.BaseSampler:
    """The sampler registered as ``name``, seeded."""
    # Optuna logs every study creation and warns that ``group`` is experimental;
    # neither helps someone watching a search.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[name](seed, num_samples)
