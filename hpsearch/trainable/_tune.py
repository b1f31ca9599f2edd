"""The Ray Tune function trainables: thin adapters around :class:`TrainingRun` (one
trial) and :class:`PackRun` (a pack of trials)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import ray
import torch
from ray import tune

from hpsearch import storage
from hpsearch.data import TabularData
from hpsearch.metrics import best_score
from hpsearch.trainable._checkpoint import PACK_KEY, load_state, save_state
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._loop import TrainingRun
from hpsearch.trainable._pack import PackRun, read_pack
from hpsearch.trainable._settings import TrainSettings


def train_mlp(config: dict[str, Any], data: TabularData, settings: TrainSettings) -> None:
    """Train one trial, reporting metrics every epoch and checkpointing every N.

    ``data`` arrives through ``tune.with_parameters``: one copy in the object
    store per node, read zero-copy by every trial there.
    """
    # Ray may leave workers with OMP_NUM_THREADS=1; use exactly the CPUs the
    # trial reserved, so concurrent trials neither starve nor fight.
    torch.set_num_threads(max(1, int(settings.cpus_per_trial)))
    run = TrainingRun(HParams.from_config(config), data, settings)

    # Read onto the CPU: torch's RNG states must be CPU tensors; weights and optimizer
    # state move to the trial's device as they load.
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # restarted after a failure (a lost node)
        with checkpoint.as_directory() as directory:
            run.load_state_dict(load_state(directory))
    elif config.get("resume_from"):  # an earlier run's unfinished trial continues
        with storage.local_copy(config["resume_from"]) as directory:
            run.load_state_dict(load_state(directory))
    # Reported every epoch: a trial restarted after a failure (a lost node)
    # shows the epoch it continued from, 0 for a fresh start.
    resumed_from = run.epoch

    while run.epoch < settings.max_epochs:
        metrics = run.step()
        metrics["resumed_from_epoch"] = resumed_from
        # Checkpoints cost a file write and an upload to storage: only every N epochs.
        due = settings.checkpoints_at(run.epoch) or metrics["diverged"]
        _report(metrics, (lambda d: save_state(run.state_dict(), d)) if due else None)
        if metrics["diverged"]:
            return  # the trial ends cleanly; its result says why


def train_pack(
    config: dict[str, Any], data: TabularData, settings: TrainSettings, stops: Any = None
) -> None:
    """Train a pack (``config["pack"]``: its members' configs), reporting every member's
    metrics each epoch (``members``) and checkpointing each member's slice.

    ``stops``: the actor the driver's scheduler leaves its decisions in (a
    ``hpsearch.tuning`` ``PackStops``: ``stopped(trial_id)`` lists the members to drop).
    """
    torch.set_num_threads(max(1, int(settings.cpus_per_trial)))
    configs = config[PACK_KEY]
    run = PackRun(configs, data, settings, states=_pack_states(configs))
    trial_id = tune.get_context().get_trial_id()
    _take_stops(run, stops, trial_id)
    while run.active:
        results = run.step()
        # Tune wants the search metric in every result: the step's best member.
        best, _ = best_score(results.values(), settings.metric, settings.mode)
        report: dict[str, Any] = {
            "members": {str(n): m for n, m in results.items()},
            "pack_size": len(results),
            settings.metric: float("nan") if best is None else best,
        }
        _report(report, run.save if run.checkpoint_due(results) else None)
        run.retire(results)
        _take_stops(run, stops, trial_id)


def _pack_states(configs: list[dict[str, Any]]) -> dict[int, tuple[dict[str, Any], str]]:
    """Members to continue: all of them from the pack's own checkpoint (restarted after a
    failure), else each earlier run's unfinished trial from its checkpoint."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            return read_pack(directory)
    states = {}
    for member in configs:
        if member.get("resume_from"):
            with storage.local_copy(member["resume_from"]) as directory:
                states[int(member["trial_number"])] = (load_state(directory), "running")
    return states


def _take_stops(run: PackRun, stops: Any, trial_id: str | None) -> None:
    if stops is not None and trial_id is not None and run.active:
        run.stop(ray.get(stops.stopped.remote(trial_id)))


def _report(metrics: dict[str, Any], save: Callable[[str], object] | None) -> None:
    """Report ``metrics`` to Tune, with the checkpoint ``save`` writes into a folder."""
    if save is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="hpsearch-ckpt-") as directory:
        save(directory)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
