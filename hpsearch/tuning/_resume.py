"""``resume``: continue an interrupted search, or add trials to a finished one.

Tune's own restore does the heavy lifting: trials that ended are not rerun,
unfinished ones continue from their last checkpoint, and the Optuna
searcher (its whole study) comes back from the experiment's snapshot. Two
things Tune does not do are added here: a new number of trials (Tune keeps
the first run's count, ray-project/ray#42221), and fresh progress and
heartbeat callbacks for this run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from hpsearch import compat, storage
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.experiments import (
    CHECKPOINT_PREFIX,
    RESULT_FILE,
    SEARCH_FILE,
    TRIAL_PREFIX,
    Experiment,
    load_experiment,
    now_iso,
)
from hpsearch.signals import Termination, sigterm_as_interrupt
from hpsearch.tuning._claim import claim_existing
from hpsearch.tuning._run import (
    RaySession,
    SearchResult,
    _silent,
    fit_and_summarize,
    load_data,
    progress_for,
    ray_session,
    redacting,
)


def _extending(
    searcher: Any,
    max_concurrent: int,
    total: int,
    ended: Mapping[str, dict[str, Any]],
    location: str,
) -> Any:
    """Tune's SearchGenerator, restored, then set right for this run.

    - The trial count is this run's (Tune keeps the first run's).
    - New trials are stored at ``location``, where the experiment is now.
      The generator's saved state holds the storage the experiment was
      created on, and Tune (2.60) gives new trials that one: resumed
      after a move (another folder, local to S3), their checkpoints went
      to the old place (seen in the resume tests), and the summary found
      none.
    - ``ended`` holds the final results of trials that ended after the
      searcher's state was last saved: they are told to it (Tune, taking
      them as ended, never will), so Optuna does not keep them running for
      good and the concurrency limit does not count them.
    """
    from ray.tune.search import ConcurrencyLimiter, SearchGenerator

    from hpsearch.tuning._tuner import tune_storage

    base = location.partition("?")[0].rstrip("/")
    root, name = _root_of(location), base.rsplit("/", 1)[-1]

    class Extending(SearchGenerator):
        def restore_from_dir(self, dirpath: str) -> None:
            super().restore_from_dir(dirpath)
            compat.extend_generator(self, total)
            compat.move_generator_storage(self, *tune_storage(root), name)
            for trial_id, result in ended.items():
                self.searcher.on_trial_complete(trial_id, result=result)

    return Extending(ConcurrencyLimiter(searcher, max_concurrent=max_concurrent))


def repair_snapshot(location: str) -> tuple[dict[str, dict[str, Any]], int]:
    """Bring Tune's last experiment snapshot up to what storage holds.

    Tune snapshots the experiment every few seconds. Between the last
    snapshot and the driver's death:

    - a trial may have ended (done, or stopped by the scheduler). The
      snapshot still says it runs, and Tune would train it again from its
      checkpoint; it is marked as ended, with its final result;
    - a trial may have checkpointed again, and keeping only the newest
      ``keep_checkpoints`` deleted checkpoints the snapshot names. Restoring
      from the newest of them would fail ("does not exist on storage
      anymore"): the trial's newest checkpoint is copied under its name, so
      it continues from the newest state it saved. Older ones are only
      there for Tune to delete (it logs an error for each it cannot find):
      an empty folder stands in.

    Returns the final results of the trials marked as ended, by trial id,
    and how many checkpoints were repaired.
    """
    snapshots = [n for n in storage.list_files(location) if n.startswith("experiment_state-")]
    if not snapshots:
        return {}, 0
    name = max(snapshots)
    state = json.loads(storage.read_text(storage.join(location, name)) or "{}")
    ended: dict[str, dict[str, Any]] = {}
    repaired = 0
    for entry in state.get("trial_data", []):
        trial_json, metadata_json = entry
        trial = json.loads(trial_json)
        trial_dir = storage.join(location, f"{TRIAL_PREFIX}{trial['trial_id']}")
        unfinished = trial.get("status") in ("PENDING", "RUNNING", "PAUSED")
        final = _final_result(trial_dir) if unfinished else None
        if final:
            trial["status"] = "TERMINATED"
            metadata = json.loads(metadata_json)
            metadata["last_result"] = final
            entry[:] = [json.dumps(trial, indent=2), json.dumps(metadata)]
            ended[trial["trial_id"]] = final
            continue
        existing = [n for n in storage.list_dirs(trial_dir) if n.startswith(CHECKPOINT_PREFIX)]
        named = _checkpoint_names(json.loads(metadata_json))
        if not existing or not named:
            continue
        for missing in sorted(set(named) - set(existing)):
            if missing == named[-1]:
                storage.copy_dir(
                    storage.join(trial_dir, max(existing)), storage.join(trial_dir, missing)
                )
            else:
                storage.make_dir(storage.join(trial_dir, missing))
            repaired += 1
    if ended:
        storage.write_json_atomic(state, location, name)
    return ended, repaired


def _checkpoint_names(metadata: dict[str, Any]) -> list[str]:
    """The checkpoint folders Tune's checkpoint manager holds for a trial, oldest first.

    The snapshot keeps the manager cloudpickled, as hex, inside its JSON.
    The folder names are plain text inside the pickle, so they are read
    without unpickling it (which would run code found on storage).
    """
    manager = metadata.get("checkpoint_manager")
    if isinstance(manager, dict) and manager.get("_type") == "CLOUDPICKLE_FALLBACK":
        raw = bytes.fromhex(str(manager.get("value", "")))
    else:
        raw = json.dumps(manager).encode()
    return sorted({name.decode() for name in re.findall(rb"checkpoint_\d{6}", raw)})


def _final_result(trial_dir: str) -> dict[str, Any] | None:
    """The trial's last reported result if it says the trial ended, else None."""
    text = storage.read_text(storage.join(trial_dir, RESULT_FILE)) or ""
    lines = text.rstrip("\n").rsplit("\n", 1)
    try:
        last = json.loads(lines[-1]) if lines[-1] else None
    except json.JSONDecodeError:  # a line cut short by the kill
        return None
    return last if isinstance(last, dict) and last.get("done") is True else None


def _root_of(location: str) -> str:
    base, sep, options = location.partition("?")
    return base.rstrip("/").rsplit("/", 1)[0] + sep + options


def resume_config(experiment: Experiment, num_samples: int | None) -> SearchConfig:
    """The search's config as recorded, with the new trial count; checks it may resume."""
    if experiment.state == "running":
        raise UserError(
            f"experiment {experiment.name!r} is still running",
            "resume it once it has stopped (`hpsearch list` shows its state)",
        )
    ran = len(experiment.trials)
    if num_samples is not None and num_samples < max(ran, 1):
        raise UserError(
            f"--num-samples {num_samples} is fewer than the {ran} trials already run",
        )
    if experiment.state == "finished" and (num_samples or 0) <= experiment.requested:
        raise UserError(
            f"experiment {experiment.name!r} finished all {experiment.requested} trials",
            f"pass --num-samples N above {experiment.requested} to add trials",
        )
    recorded = dict(experiment.record["config"])
    if "***" in str(recorded.get("data") or ""):
        raise UserError(
            f"experiment {experiment.name!r} read its table from {recorded['data']}, recorded "
            "with its credentials blanked, so resume cannot read it again",
            "give the credentials as AWS_* environment variables and put the location "
            "without them in config.data of its hpsearch.json",
        )
    recorded.update(
        num_samples=num_samples or experiment.requested,
        name=experiment.name,
        # Where it is now (a recorded URI has its credentials redacted).
        storage=_root_of(experiment.location),
        warm_start=None,
    )
    return SearchConfig.from_mapping(recorded)


def resume_search(
    exp: str,
    root: str | None = None,
    num_samples: int | None = None,
    echo: Callable[[str], None] | None = print,
) -> Any:
    """Continue the experiment ``exp`` until it has ``num_samples`` trials (default: as asked)."""
    echo = redacting(echo)
    started = time.perf_counter()
    for location in (exp, root or ""):  # before reading it: a key there would be pickled
        storage.refuse_keyed_results(location)
    experiment = load_experiment(exp, root)
    config = resume_config(experiment, num_samples)
    # One writer: a second resume of this experiment stops here.
    claim = claim_existing(experiment.location, experiment.name)
    try:
        with sigterm_as_interrupt() as termination:
            return _resume(experiment, config, echo, started, termination)
    finally:
        claim.release()


def _resume(
    experiment: Experiment,
    config: SearchConfig,
    echo: Callable[[str], None] | None,
    started: float,
    termination: Termination,
) -> Any:
    say = echo or _silent
    location = experiment.location
    data = load_data(config)
    say(
        f"hpsearch: resuming {experiment.name} ({experiment.state}, {experiment.done} of "
        f"{experiment.requested} trials ended) up to {config.num_samples} trials"
    )
    with ray_session(config, data, say, location) as session:
        progress = progress_for(config, session.data.task, echo)
        tuner, scheduler = _restored_tuner(experiment, config, session, progress)
        _record_resume(experiment, config)
        results, summary = fit_and_summarize(
            tuner,
            config,
            session,
            name=experiment.name,
            experiment_path=location,
            progress=progress,
            started=started,
            termination=termination,
            after_fit=lambda results: _set_aside_orphans(location, results),
        )
    if scheduler is not None:
        say(
            f"hpsearch: the {config.scheduler} scheduler judged this run against the results "
            f"of {getattr(scheduler, 'replayed', 0)} earlier trials"
        )
    return SearchResult(experiment_path=location, summary=summary, results=results)


def _restored_tuner(
    experiment: Experiment, config: SearchConfig, session: RaySession, progress: Any
) -> tuple[Any, Any]:
    """Tune's Tuner as the experiment's snapshot left it, set up for this run; and the
    scheduler, if it was handed the earlier trials' results (None if it keeps none)."""
    # These import Ray, which must come after ray_session set its environment.
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from hpsearch.trainable import train_mlp
    from hpsearch.tuning._progress import Heartbeat
    from hpsearch.tuning._schedulers import remember_histories
    from hpsearch.tuning._tuner import train_settings, tune_storage

    location = experiment.location
    trainable = tune.with_resources(
        tune.with_parameters(
            train_mlp, data=session.data_ref, settings=train_settings(config, session.data.task)
        ),
        {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial},
    )
    path, filesystem = tune_storage(location)
    ended, _ = repair_snapshot(location)
    tuner = tune.Tuner.restore(
        path,
        trainable=trainable,
        resume_unfinished=True,
        resume_errored=False,
        restart_errored=False,
        storage_filesystem=filesystem,
    )
    # Tune's restore keeps the first run's settings; these are this run's.
    run_config, tune_config = compat.restored_settings(tuner)
    run_config.callbacks = [
        progress,
        Heartbeat(location),
        CSVLoggerCallback(),
        JsonLoggerCallback(),
    ]
    tune_config.search_alg = _extending(
        tune_config.search_alg, session.concurrency, config.num_samples, ended, location
    )
    tune_config.num_samples = config.num_samples
    # Tune restores no scheduler state; the scheduler rebuilds it from the
    # earlier trials' results as Tune re-adds them.
    scheduler = tune_config.scheduler
    histories = [(t.trial_id, t.history) for t in experiment.trials]
    remembers = scheduler is not None and remember_histories(scheduler, histories)
    return tuner, scheduler if remembers else None


def _record_resume(experiment: Experiment, config: SearchConfig) -> None:
    """hpsearch.json says how many trials are asked now, and when it was resumed."""
    record = dict(experiment.record)
    record["config"] = {**record["config"], "num_samples": config.num_samples}
    record["resumed"] = [
        *record.get("resumed", []),
        {"at": now_iso(), "from_state": experiment.state, "num_samples": config.num_samples},
    ]
    storage.write_json_atomic(record, experiment.location, SEARCH_FILE)


def _set_aside_orphans(location: str, results: Any) -> None:
    """Move trial folders Tune does not know (started after its last snapshot
    before the driver died) to ``orphaned/``: their trials were run again."""
    known = {f"{TRIAL_PREFIX}{results[i].metrics.get('trial_id', '')}" for i in range(len(results))}
    known |= {results[i].path.rstrip("/").rsplit("/", 1)[-1] for i in range(len(results))}
    for name in storage.list_dirs(location):
        if name.startswith(TRIAL_PREFIX) and name not in known:
            storage.move_dir(
                storage.join(location, name), storage.join(location, f"orphaned/{name}")
            )
