"""The entrypoint of a search submitted as a Ray Job (``python -m hpsearch.cluster._job PKG``).

It runs on the cluster's head, connects to the cluster, and calls the very
same :func:`run_search` as ``hpsearch run``; its output is the job's log.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: The validated config, inside the job's files.
CONFIG_FILE = "hpsearch-config.json"


def enter_private_copy(package: str) -> Path:
    """Copy the job's files (a ``py_modules`` package) to a directory of our own and enter it.

    Not Ray's ``working_dir``: Ray re-extracts it under the running driver,
    whose deleted working directory then breaks torch's import and Tune's end.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the job's files ({package}) did not reach this node")
    source = Path(next(iter(spec.submodule_search_locations)))
    private = Path(tempfile.mkdtemp(prefix="hpsearch-job-")) / "files"
    shutil.copytree(source, private)
    os.chdir(private)
    return private


def main(argv: list[str]) -> int:
    """Run the search shipped in the package ``argv[1]`` (config JSON, data) on the cluster.

    ``ray job stop`` sends SIGTERM: the search ends as on Ctrl-C (summarized,
    exit 143) and the private copy of the job's files is removed.
    """
    # Imported here, after the module has loaded: nothing may import torch
    # before enter_private_copy() leaves Ray's working directory.
    from hpsearch.errors import UserError
    from hpsearch.experiments import exit_code
    from hpsearch.signals import sigterm_as_interrupt
    from hpsearch.tuning import format_summary

    with sigterm_as_interrupt() as termination:
        private = enter_private_copy(argv[1])
        try:
            summary = _run_shipped_config()
        except UserError as exc:
            print(f"hpsearch: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # before the search started, or while it was summarized
            print("hpsearch: " + ("terminated" if termination.received else "aborted"), flush=True)
            return 143 if termination.received else 130
        finally:
            shutil.rmtree(private.parent, ignore_errors=True)
    print(format_summary(summary), flush=True)
    return exit_code(summary)


def _run_shipped_config() -> dict[str, object]:
    from hpsearch.config import SearchConfig
    from hpsearch.signals import reclaim_sigterm
    from hpsearch.tuning import prepare_environment

    config = SearchConfig.from_mapping(json.loads(Path(CONFIG_FILE).read_text()))
    prepare_environment()
    import ray

    # The job's driver joins the cluster it was submitted to (RAY_ADDRESS is
    # set by Ray Jobs); run_search then uses that Ray instead of starting one.
    ray.init(address="auto", log_to_driver=False, logging_level=logging.WARNING)
    reclaim_sigterm()
    from hpsearch.tuning import run_search

    return run_search(config, echo=lambda line: print(line, flush=True)).summary


if __name__ == "__main__":
    sys.exit(main(sys.argv))
