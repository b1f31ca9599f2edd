"""A pure function from a validated :class:`SearchConfig` to a Ray Tune ``Tuner``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.search.optuna import OptunaSearch

from hpsearch import compat
from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.experiments import INTERNAL_KEYS
from hpsearch.metrics import is_finite
from hpsearch.spaces import SPACE_KEYS
from hpsearch.trainable import TrainSettings, train_mlp
from hpsearch.tuning._samplers import build_sampler
from hpsearch.tuning._schedulers import build_scheduler, stop_epochs
from hpsearch.tuning._space import DefineByRun, space_context

#: Restarts from the last checkpoint a trial gets after its worker died.
MAX_TRIAL_RESTARTS = 2


class Searcher(OptunaSearch):
    """Ray's OptunaSearch, giving each trial what the space returned and telling
    Optuna a diverged trial was PRUNED.

    Ray tells its NaN score, which Optuna refuses, leaving the trial RUNNING
    for good; PRUNED, TPE ranks it worst and steers away from its region.
    """

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if not isinstance(config, dict):
            return config
        # Ray merges the raw draws (width_1, use_weight_decay) into the config; they
        # stay in Optuna's record, the trial gets the space's keys and hpsearch's.
        return {k: v for k, v in config.items() if k in SPACE_KEYS or k in INTERNAL_KEYS}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # A restarted trial re-reports epochs; Optuna keeps the first and warns, harmlessly.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The reported value is ignored", UserWarning)
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        value = (result or {}).get(self.metric)
        diverged = bool((result or {}).get("diverged")) or (
            isinstance(value, float) and not is_finite(value)
        )
        if diverged:
            compat.tell_pruned(self, trial_id)
            return
        super().on_trial_complete(trial_id, result, error)


def train_settings(config: SearchConfig, task: str) -> TrainSettings:
    """The settings every trial of this search shares."""
    return TrainSettings(
        max_epochs=config.max_epochs,
        metric=config.resolved_metric(task),
        mode=config.resolved_mode(task),
        checkpoint_every=config.checkpoint_every,
        checkpoint_epochs=stop_epochs(config),
        cpus_per_trial=config.cpus_per_trial,
        gpus_per_trial=config.gpus_per_trial,
    )


def tune_storage(root: str) -> tuple[str, Any]:
    """Tune's ``storage_path`` and ``storage_filesystem`` for a path or a URI.

    A URI's options (``s3://bucket/results?endpoint_override=host:9000``)
    reach Tune inside a pyarrow filesystem, which Tune ships to every node,
    rather than in the path, which it would split and join as text.
    """
    if "://" not in root:
        return root, None
    import pyarrow.fs as pafs

    filesystem, path = pafs.FileSystem.from_uri(root)
    return path, filesystem


def build_tuner(
    config: SearchConfig,
    data: TabularData,
    *,
    name: str,
    storage_root: str,
    max_concurrent: int,
    callbacks: Sequence[tune.Callback] = (),
    data_ref: Any = None,
    warm: Sequence[optuna.trial.FrozenTrial] = (),
) -> tune.Tuner:
    """Everything Tune needs for one search, and nothing it would default badly.

    The dataset reaches trials through Ray's object store, put there once:
    ``data_ref`` if the caller already put it, else ``with_parameters`` puts
    ``data``. Trials read it from there instead of rebuilding it.
    """
    metric, mode = config.resolved_metric(data.task), config.resolved_mode(data.task)
    trainable = tune.with_resources(
        tune.with_parameters(
            train_mlp,
            data=data if data_ref is None else data_ref,
            settings=train_settings(config, data.task),
        ),
        {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial},
    )
    searcher = Searcher(
        space=DefineByRun(config.space, space_context(config, data), config.seed),
        metric=metric,
        mode=mode,
        sampler=build_sampler(config.sampler, config.seed, config.num_samples),
    )
    if warm:
        # A previous search's trials, as if this study had run them (see _warm.py).
        compat.optuna_study(searcher).add_trials(warm)
    storage_path, storage_filesystem = tune_storage(storage_root)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=searcher,
            scheduler=build_scheduler(config),
            num_samples=config.num_samples,
            time_budget_s=config.time_budget_s,
            # Also sets how many trials Optuna may have pending (Tune's default
            # for a searcher is 1, which leaves all but one CPU idle).
            max_concurrent_trials=max_concurrent,
            # One worker process per concurrent slot, reused from trial to
            # trial: a fresh process re-imports torch, ~5 core-s per trial.
            reuse_actors=True,
            trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=config.keep_checkpoints),
            # A trial whose worker died (a lost node, a killed process) is
            # started again from its last checkpoint, on whatever node is left.
            failure_config=tune.FailureConfig(max_failures=MAX_TRIAL_RESTARTS),
            # CSV and JSON results are what inspection reads; TensorBoard's
            # logger is left out (TUNE_DISABLE_AUTO_CALLBACK_LOGGERS).
            callbacks=[*callbacks, CSVLoggerCallback(), JsonLoggerCallback()],
        ),
    )
