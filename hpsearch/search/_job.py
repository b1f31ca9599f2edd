"""The entrypoint of a search submitted as a Ray Job (``python -m hpsearch.search._job FILE``).

It runs on the cluster's head, connects to the cluster, and calls the very
same :func:`run_search` as ``hpsearch run``; its output is the job's log.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def rejoin_working_dir(path: str, timeout_s: float = 30.0) -> None:
    """Step back into the job's working directory after ``ray.init()``.

    Measured on Ray 2.60: when a job's driver connects, Ray re-extracts the
    job's ``working_dir`` at the same path, so the driver is left in a
    deleted directory. ``getcwd()`` then fails with ENOENT, and oneMKL
    (linked into torch) aborts the whole process when torch is imported
    ("Intel oneMKL FATAL ERROR: Cannot load .../libtorch_cpu.so"). Relative
    paths (the shipped data) would fail too. Entering the new directory by
    its path fixes both.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if os.path.samefile(os.getcwd(), path):
                return
        except OSError:
            pass  # the cwd is gone, or the new one is not there yet
        if os.path.isdir(path):
            os.chdir(path)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the job's working directory {path} did not come back")
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    """Run the search in ``argv[1]`` (a SearchConfig as JSON) on the cluster."""
    from hpsearch.commands.run import format_summary
    from hpsearch.config import SearchConfig
    from hpsearch.errors import UserError
    from hpsearch.search._local_ray import prepare_environment

    try:
        config = SearchConfig.from_mapping(json.loads(Path(argv[1]).read_text()))
    except UserError as exc:
        print(f"hpsearch: error: {exc}", file=sys.stderr)
        return 2
    prepare_environment()
    working_dir = os.getcwd()
    # torch (and its oneMKL) load while the working directory is sound; see
    # rejoin_working_dir for what ray.init does to it.
    import ray

    import hpsearch.trainable  # noqa: F401

    # The job's driver joins the cluster it was submitted to (RAY_ADDRESS is
    # set by Ray Jobs); run_search then uses that Ray instead of starting one.
    ray.init(address="auto", log_to_driver=False)
    rejoin_working_dir(working_dir)
    from hpsearch.search import run_search

    try:
        result = run_search(config, echo=lambda line: print(line, flush=True))
    except UserError as exc:
        print(f"hpsearch: error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(result.summary), flush=True)
    return 130 if result.summary["ended"] == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
