"""Running a search: config -> Tuner -> results -> summary, on this machine or a cluster.

Composes :mod:`hpsearch.spaces` (what to try) and :mod:`hpsearch.trainable`
(how to train) with Ray Tune and Optuna (where and in which order), and
writes what :mod:`hpsearch.experiments` reads. Ray loads when a search starts.
"""

from typing import TYPE_CHECKING

from hpsearch.lazy import exports

if TYPE_CHECKING:
    from hpsearch.tuning._local_ray import local_ray, prepare_environment
    from hpsearch.tuning._resume import resume_search
    from hpsearch.tuning._run import SearchResult, run_search
    from hpsearch.tuning._summary import format_summary

__all__ = [
    "SearchResult",
    "format_summary",
    "local_ray",
    "prepare_environment",
    "resume_search",
    "run_search",
]

__getattr__ = exports(
    __name__,
    {
        "SearchResult": "._run",
        "run_search": "._run",
        "resume_search": "._resume",
        "format_summary": "._summary",
        "local_ray": "._local_ray",
        "prepare_environment": "._local_ray",
    },
)
