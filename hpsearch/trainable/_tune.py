"""The Ray Tune function trainable: a thin adapter around :class:`TrainingRun`."""

from __future__ import annotations

import tempfile
from typing import Any

import torch
from ray import tune

from hpsearch import storage
from hpsearch.data import TabularData
from hpsearch.trainable._checkpoint import load_state, save_state
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._loop import TrainingRun
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

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # restarted after a failure (a lost node)
        with checkpoint.as_directory() as directory:
            run.load_state_dict(load_state(directory, map_location=run.device))
    elif config.get("resume_from"):  # an earlier run's unfinished trial continues
        with storage.local_copy(config["resume_from"]) as directory:
            run.load_state_dict(load_state(directory, map_location=run.device))
    # Reported every epoch: a trial restarted after a failure (a lost node)
    # shows the epoch it continued from, 0 for a fresh start.
    resumed_from = run.epoch

    while run.epoch < settings.max_epochs:
        metrics = run.step()
        metrics["resumed_from_epoch"] = resumed_from
        if settings.checkpoints_at(run.epoch) or metrics["diverged"]:
            # Checkpoints cost a file write and an upload to storage: only every N epochs.
            with tempfile.TemporaryDirectory(prefix="hpsearch-ckpt-") as directory:
                save_state(run.state_dict(), directory)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(metrics)
        if metrics["diverged"]:
            return  # the trial ends cleanly; its result says why
