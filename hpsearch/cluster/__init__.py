"""The same search on a Ray cluster: a client for its job API, submitting a search
as a Ray Job, and the job's entrypoint, which calls :func:`hpsearch.tuning.run_search`.
"""

from typing import TYPE_CHECKING

from hpsearch.lazy import exports

if TYPE_CHECKING:
    from hpsearch.cluster._client import Cluster, connect
    from hpsearch.cluster._submit import (
        Submitted,
        check_no_credentials,
        check_shippable,
        follow_logs,
        job_row,
        job_rows,
        stop_job,
        submit_search,
    )

__all__ = [
    "Cluster",
    "Submitted",
    "check_no_credentials",
    "check_shippable",
    "connect",
    "follow_logs",
    "job_row",
    "job_rows",
    "stop_job",
    "submit_search",
]

_SUBMIT = (
    "Submitted",
    "check_no_credentials",
    "check_shippable",
    "follow_logs",
    "job_row",
    "job_rows",
    "stop_job",
)
__getattr__ = exports(
    __name__,
    {
        "Cluster": "._client",
        "connect": "._client",
        "submit_search": "._submit",
        **dict.fromkeys(_SUBMIT, "._submit"),
    },
)
