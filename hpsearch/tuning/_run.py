"""``run_search``: the one path from a validated config to results on storage.

``hpsearch run`` calls it in-process on an embedded Ray; a cluster job calls
the very same function on the cluster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hpsearch.config import SearchConfig, experiment_name
from hpsearch.data import TabularData, load_builtin, load_table
from hpsearch.errors import UserError
from hpsearch.experiments import SEARCH_FILE, SUMMARY_FILE
from hpsearch.redaction import redact
from hpsearch.signals import Termination, sigterm_as_interrupt
from hpsearch.storage import join, refuse_keyed_results, write_json_atomic
from hpsearch.tuning._claim import claim_new
from hpsearch.tuning._local_ray import local_ray, prepare_environment
from hpsearch.tuning._record import StudyRecord
from hpsearch.tuning._space import DefineByRun, space_context
from hpsearch.tuning._status import write_status
from hpsearch.tuning._summary import search_record, summarize


@dataclass(frozen=True)
class SearchResult:
    """What a finished search returns: where it is, its summary, Tune's results."""

    experiment_path: str
    summary: dict[str, Any]
    results: Any  # ray.tune.ResultGrid; typed loosely so importing hpsearch needs no ray


def load_data(config: SearchConfig) -> TabularData:
    """The built-in dataset or the user's table, split and encoded (before Ray starts)."""
    if config.data is None:
        return load_builtin(config.dataset, seed=config.seed)
    return load_table(config.data_spec())


def describe_table(data: TabularData, config: SearchConfig) -> str:
    """One line on how the table was understood: task, classes, features, split."""
    sizes = data.sizes()
    if data.task == "classification":
        shown = ", ".join(data.class_names[:8]) + (", ..." if data.num_classes > 8 else "")
        task = f"classification of {config.target!r} ({data.num_classes} classes: {shown})"
    else:
        task = f"regression of {config.target!r}"
    how = "given" if config.task != "auto" else "detected"
    raw = len(data.preprocessing.get("columns", ()))
    return (
        f"hpsearch: {task} [{how}]; {raw} columns -> {data.num_features} features; "
        f"{sizes['train']}/{sizes['val']}/{sizes['test']} train/val/test rows"
    )


def redacting(echo: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """``echo`` with credentials blanked in every line (a notebook's ``print`` too)."""
    if echo is None:
        return None
    out = echo
    return lambda line: out(redact(line))


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block only, so one search's settings
    do not leak into the next one in the same process (a notebook)."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _concurrency(config: SearchConfig, resources: dict[str, float]) -> tuple[int, int]:
    """Tune trials at once (the user's limit, or as many as the resources hold) and the
    trials each trains (``SearchConfig.resolved_pack``)."""
    slots = int(resources.get("CPU", 1) // config.cpus_per_trial)
    if config.gpus_per_trial > 0:
        slots = min(slots, int(resources.get("GPU", 0) // config.gpus_per_trial))
    slots = config.max_concurrent or max(1, slots)
    pack = config.resolved_pack(slots)
    if config.max_concurrent:
        return slots, pack
    return max(1, min(slots, -(-config.num_samples // pack))), pack


def run_search(config: SearchConfig, echo: Callable[[str], None] | None = print) -> SearchResult:
    """Run one hyperparameter search and return its summary.

    Starts an embedded Ray on 127.0.0.1 unless Ray is already initialized
    (then uses it). ``echo`` receives progress lines; ``None`` is silent.

    Example:
        >>> from hpsearch import SearchConfig, run_search
        >>> result = run_search(SearchConfig(num_samples=4, max_epochs=5))  # doctest: +SKIP
        >>> result.summary["best"]["test"]["test_accuracy"]  # doctest: +SKIP
        0.99
    """
    echo = redacting(echo)
    started = time.perf_counter()
    name = experiment_name(config)
    root = config.storage_root()
    refuse_keyed_results(root)
    experiment_path = join(root, name)
    # Claimed before any expensive work: a second search of that name stops here.
    claim = claim_new(experiment_path, name, root)
    try:
        with sigterm_as_interrupt() as termination:
            return _search(config, name, root, experiment_path, echo, started, termination)
    finally:
        claim.release(remove_if_empty=True)


def _search(
    config: SearchConfig,
    name: str,
    root: str,
    experiment_path: str,
    echo: Callable[[str], None] | None,
    started: float,
    termination: Termination,
) -> SearchResult:
    say = echo or _silent
    data = load_data(config)
    config.check_metric(data.task)
    # The space with the data's context (classes, features), before Ray starts.
    DefineByRun(config.space, space_context(config, data), config.seed).probe()
    _announce(config, data, say)
    warm = _warm_start(config, data, say)
    with ray_session(config, data, say, experiment_path) as session:
        # This imports Ray, which must come after ray_session set its environment.
        from hpsearch.tuning._tuner import new_record

        _write_record(config, session.data, name, experiment_path, warm)
        context = space_context(config, data)
        record = new_record(config, data.task, name, experiment_path, warm, context)
        return search_study(
            config,
            session,
            record,
            name=name,
            folder=name,
            root=root,
            experiment_path=experiment_path,
            progress=progress_for(config, data.task, echo),
            started=started,
            termination=termination,
        )


def search_study(
    config: SearchConfig,
    session: RaySession,
    record: StudyRecord,
    *,
    name: str,
    folder: str,
    root: str,
    experiment_path: str,
    progress: Any,
    started: float,
    termination: Termination,
    run: bool = True,
) -> SearchResult:
    """Tune's run over the study of record in ``root/folder`` (none when not ``run``:
    nothing is left), summarized (:func:`fit_and_summarize`); the record closed."""
    # These import Ray, which must come after ray_session set its environment.
    from hpsearch.tuning._progress import Heartbeat
    from hpsearch.tuning._stops import start_pack_stops
    from hpsearch.tuning._tuner import build_tuner

    tuner = None
    # Where the scheduler tells packs which members to stop: ended with the search.
    stops = start_pack_stops() if run and session.pack > 1 else None
    if run:
        tuner = build_tuner(
            config,
            session.data,
            name=folder,
            storage_root=root,
            max_concurrent=session.concurrency,
            pack=session.pack,
            stops=stops,
            callbacks=[progress, Heartbeat(experiment_path)],
            data_ref=session.data_ref,
            record=record,
        )
    try:
        results, summary = fit_and_summarize(
            tuner,
            config,
            session,
            name=name,
            experiment_path=experiment_path,
            progress=progress,
            started=started,
            termination=termination,
            record=record,
        )
    finally:
        record.close()
        if stops is not None:
            import ray

            ray.kill(stops)
    return SearchResult(experiment_path=experiment_path, summary=summary, results=results)


def _silent(line: str) -> None:
    """An echo that says nothing."""


def _announce(config: SearchConfig, data: TabularData, say: Callable[[str], None]) -> None:
    """What is about to run, in a line (two for a user's table)."""
    if config.data is not None:
        say(describe_table(data, config))
    say(
        f"hpsearch: {config.num_samples} trials of space {config.space!r} on {data.name} "
        f"({data.task}, {data.sizes()['train']} train rows), {config.sampler} sampler, "
        f"{config.scheduler} scheduler, up to {config.max_epochs} epochs"
    )


def _warm_start(config: SearchConfig, data: TabularData, say: Callable[[str], None]) -> list[Any]:
    """The earlier experiment's trials that seed the sampler (none without --warm-start)."""
    if not config.warm_start:
        return []
    from hpsearch.tuning._warm import warm_trials

    metric, mode = config.resolved_metric(data.task), config.resolved_mode(data.task)
    context = space_context(config, data)
    warm, source = warm_trials(config, data.task, metric, mode, context)
    say(f"hpsearch: warm start from {source}: {len(warm)} trials seed the sampler")
    return warm


def _write_record(
    config: SearchConfig, data: TabularData, name: str, experiment_path: str, warm: list[Any]
) -> None:
    """hpsearch.json: what was asked, on storage before any trial runs."""
    record = search_record(config, data, name)
    if warm:
        record["warm_start"] = {"from": config.warm_start, "trials": len(warm)}
    write_json_atomic(record, experiment_path, SEARCH_FILE)


@dataclass(frozen=True)
class RaySession:
    """A search's footing on Ray: its data in the object store, how many trials at once."""

    data: TabularData
    data_ref: Any
    concurrency: int
    ray_start_s: float
    #: Trials per pack (1: each trial trains alone).
    pack: int = 1


@contextmanager
def ray_session(
    config: SearchConfig, data: TabularData, say: Callable[[str], None], where: str
) -> Iterator[RaySession]:
    """Ray (embedded on 127.0.0.1, or the one already up) holding one copy of ``data``."""
    prepare_environment()  # before ray is imported
    import ray

    with local_ray() as ray_start_s:
        resources = ray.cluster_resources()
        if config.gpus_per_trial > resources.get("GPU", 0):
            raise UserError(
                f"gpus_per_trial is {config.gpus_per_trial:g} but Ray sees "
                f"{resources.get('GPU', 0):g} GPUs",
                "use --gpus-per-trial 0 on a machine without a GPU",
            )
        # One copy of the data in the object store for every trial; the driver
        # then reads that copy too (zero-copy) and lets its own go.
        data_ref = ray.put(data)
        concurrency, pack = _concurrency(config, resources)
        at_once = (
            f"{concurrency} trials at a time"
            if pack == 1
            else f"{concurrency} pack{'s' if concurrency > 1 else ''} of up to {pack} trials "
            "at a time"
        )
        say(f"hpsearch: Ray up in {ray_start_s:.1f}s; {at_once}; results in {where}")
        yield RaySession(ray.get(data_ref), data_ref, concurrency, ray_start_s, pack)


def progress_for(config: SearchConfig, task: str, echo: Callable[[str], None] | None) -> Any:
    """The callback that prints a line per finished trial and a status line every 5 s."""
    from hpsearch.tuning._progress import ProgressCallback  # imports Ray

    return ProgressCallback(
        metric=config.resolved_metric(task),
        mode=config.resolved_mode(task),
        max_epochs=config.max_epochs,
        num_samples=config.num_samples,
        echo=echo,
        constraints=config.parsed_constraints(task),
    )


def fit_and_summarize(
    tuner: Any,
    config: SearchConfig,
    session: RaySession,
    *,
    name: str,
    experiment_path: str,
    progress: Any,
    started: float,
    termination: Termination,
    record: StudyRecord,
) -> tuple[Any, dict[str, Any]]:
    """Run the tuner and write the summary, with ``status.json`` saying how it went.

    Shared by a new search and a resumed one; no tuner means nothing is left
    to run, only to summarize. ``record`` is the study of record: what it was
    told of each trial counts where storage's result files were cut short.
    """
    write_status(experiment_path, "running")
    fitted = False
    try:
        search_start = time.perf_counter()
        # Tune lets a searcher have only one pending trial unless told otherwise
        # (recent Ray also reads max_concurrent_trials; older 2.x only this).
        with _environment(TUNE_MAX_PENDING_TRIALS_PG=str(session.concurrency)):
            # No tuner: nothing is left to run (Tune with no trial would read the
            # experiment's pickled state to report on it).
            results = tuner.fit() if tuner is not None else None
        search_s = time.perf_counter() - search_start
        fitted = True
        summary = summarize(
            config,
            session.data,
            name=name,
            experiment_path=experiment_path,
            times=progress.times,
            wall_time_s=search_s,
            ray_start_s=session.ray_start_s,
            told=record.told(),
        )
        # Terminated, unless every trial had ended before the signal came.
        if termination.received and (
            summary["ended"] != "finished" or summary["trials"]["interrupted"]
        ):
            summary["ended"] = "terminated"
        summary["total_time_s"] = round(time.perf_counter() - started, 3)
        write_json_atomic(summary, experiment_path, SUMMARY_FILE)
    except KeyboardInterrupt:
        # Out of fit (a second Ctrl-C): "interrupted", read from the dead driver. While
        # summarizing: no summary will come, so say so rather than leave "running".
        if fitted:
            write_status(experiment_path, "errored", error="stopped while summarizing")
        raise
    except Exception as exc:
        # Inspection then says "errored" and why, instead of "interrupted".
        write_status(experiment_path, "errored", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    write_status(experiment_path, "ended")
    return results, summary
