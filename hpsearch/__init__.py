"""hpsearch: hyperparameter search for PyTorch MLPs on Ray Tune with Optuna.

``import hpsearch`` is cheap: torch, Ray and Optuna load only when a search runs.

Example:
    >>> from hpsearch import SearchConfig, run_search
    >>> result = run_search(SearchConfig(dataset="spirals", num_samples=8))  # doctest: +SKIP
    >>> exp = load_experiment(result.experiment_path)  # doctest: +SKIP
    >>> exp.best()["test"], exp.trials_table().num_rows  # doctest: +SKIP
    >>> export_model(exp, "model.pt")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch.lazy import exports

__version__ = "0.1.0"
__all__ = [
    "Experiment",
    "SearchConfig",
    "SearchResult",
    "UserError",
    "__version__",
    "export_model",
    "list_experiments",
    "load_experiment",
    "open_study",
    "resume_search",
    "run_search",
]

if TYPE_CHECKING:
    from hpsearch.config import SearchConfig
    from hpsearch.errors import UserError
    from hpsearch.experiments import Experiment, list_experiments, load_experiment, open_study
    from hpsearch.models import export_model
    from hpsearch.tuning import SearchResult, resume_search, run_search

__getattr__ = exports(
    __name__,
    {
        "SearchConfig": ".config",
        "UserError": ".errors",
        "Experiment": ".experiments",
        "list_experiments": ".experiments",
        "load_experiment": ".experiments",
        "open_study": ".experiments",
        "export_model": ".models",
        "SearchResult": ".tuning",
        "resume_search": ".tuning",
        "run_search": ".tuning",
    },
)
