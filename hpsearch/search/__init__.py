"""The search: config -> Tuner -> results -> summary.

Composes :mod:`hpsearch.spaces` (what to try) and :mod:`hpsearch.trainable`
(how to train) with Ray Tune and Optuna (where and in which order).
Imports Ray lazily: ``run_search`` is the entry point.
"""

from hpsearch.search._run import SearchResult, experiment_name, run_search

__all__ = ["SearchResult", "experiment_name", "run_search"]
