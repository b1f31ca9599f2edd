"""hpsearch: hyperparameter search for PyTorch MLPs on Ray Tune with Optuna.

``import hpsearch`` is cheap: torch, Ray and Optuna load only when a search runs.

Example:
    >>> from hpsearch import SearchConfig, run_search
    >>> result = run_search(SearchConfig(dataset="spirals", num_samples=8))  # doctest: +SKIP
    >>> exp = load_experiment(result.experiment_path)  # doctest: +SKIP
    >>> exp.best()["test"], exp.trials_table().num_rows  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Experiment",
    "SearchConfig",
    "SearchResult",
    "UserError",
    "__version__",
    "list_experiments",
    "load_experiment",
    "run_search",
]

if TYPE_CHECKING:
    from hpsearch.config import SearchConfig
    from hpsearch.errors import UserError
    from hpsearch.search import SearchResult, run_search
    from hpsearch.search._experiment import Experiment, list_experiments, load_experiment

_LAZY = {
    "SearchConfig": "hpsearch.config",
    "UserError": "hpsearch.errors",
    "SearchResult": "hpsearch.search",
    "run_search": "hpsearch.search",
    "Experiment": "hpsearch.search._experiment",
    "load_experiment": "hpsearch.search._experiment",
    "list_experiments": "hpsearch.search._experiment",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
