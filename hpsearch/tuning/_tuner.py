"""A pure function from a validated :class:`SearchConfig` to a Ray Tune ``Tuner``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.search import Searcher

from hpsearch import storage
from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.experiments import WARM_START
from hpsearch.metrics import is_finite
from hpsearch.objectives import is_feasible
from hpsearch.spaces import SpaceContext, pack_shared, starting_point
from hpsearch.trainable import PACK_KEY, TrainSettings, train_mlp, train_pack
from hpsearch.tuning._packs import member_results, pays_on_cpu, shared_values, structure
from hpsearch.tuning._record import (
    StudyRecord,
    best_of,
    kept_at,
    told_values,
)
from hpsearch.tuning._samplers import build_sampler
from hpsearch.tuning._schedulers import StudyScheduler, build_pruner, stop_epochs
from hpsearch.tuning._space import DefineByRun, space_context

#: Restarts from the last checkpoint a trial gets after its worker died.
MAX_TRIAL_RESTARTS = 2


class StudySearcher(Searcher):
    """Tune's searcher over the study of record: each trial is asked from the study
    (an earlier run's unfinished trials first), and told how it ended.

    With ``pack`` > 1 each Tune trial is a pack: its first member is asked freely, the
    others with the ``shared`` parameters fixed to the first's; a member whose structure
    differs anyway (a space that declares nothing) waits for the next pack.

    Nothing of it is saved by Tune: the study's journal is its whole state.
    """

    def __init__(
        self,
        record: StudyRecord,
        define: DefineByRun,
        metric: str,
        mode: str,
        total: int,
        pack: int = 1,
        shared: tuple[str, ...] = (),
        pays: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.record, self.define, self.total = record, define, total
        self.pack, self.shared = pack, shared
        #: Whether a pack of its first member's structure pays (``--pack auto`` on CPUs):
        #: a pack whose structure does not is that trial alone.
        self.pays = pays
        self.numbers: dict[str, list[int]] = {}
        self.held: tuple[int, dict[str, Any]] | None = None
        self.scheduler: StudyScheduler | None = None

    def _more(self) -> bool:
        """Whether the study has trials left to hand out."""
        return self.record.asked() < self.total or self.record.waiting() > 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.pack == 1:
            if not self._more():
                return Searcher.FINISHED  # type: ignore[return-value]  # Tune's "no more"
            members = [self.record.ask(self.define)]
        else:
            members = self._fill_pack()
            if not members:
                return Searcher.FINISHED  # type: ignore[return-value]
        self.numbers[trial_id] = [number for number, _ in members]
        for number, _ in members:
            # A pack's members share its Tune id; inspection names each <id>.<number>.
            self.record.set_attrs(number, tune_trial_id=trial_id, in_pack=self.pack > 1)
        # Uploaded before Tune starts the trial: no trial folder on object storage
        # carries a number its journal lacks (a resume would reuse the number).
        self.record.sync(force=True)
        if self.pack == 1:
            return members[0][1]
        return {PACK_KEY: [config for _, config in members]}

    def _fill_pack(self) -> list[tuple[int, dict[str, Any]]]:
        """Up to :attr:`pack` trials of one structure: the one held back, else a fresh
        ask, then asks with its shared parameters fixed."""
        if self.held is not None:
            members, self.held = [self.held], None
        elif self._more():
            members = [self.record.ask(self.define)]
        else:
            return []
        first = members[0][1]
        fixed, shape = shared_values(first, self.shared), structure(first)
        size = self.pack if self.pays is None or self.pays(first) else 1
        while len(members) < size and self._more():
            number, config = self.record.ask(self.define, fixed)
            if structure(config) != shape:
                self.held = (number, config)
                break
            members.append((number, config))
        return members

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        numbers = self.numbers.pop(trial_id, [])
        result = result or {}
        if self.pack > 1:  # every Tune trial is then a pack (of one, at times)
            members = member_results(result)
            for number in numbers:  # those still running when the pack ended
                self.tell(number, members.get(number, {}), error)
        elif numbers:
            self.tell(numbers[0], result, error)
        self.record.sync(force=True)

    def tell(self, number: int, result: dict[str, Any], error: bool = False) -> None:
        """Tell the study how trial ``number`` ended (``result``: its last metrics);
        nothing if it was told already."""
        if number not in self.record.trials:
            return
        if self.scheduler is not None:  # a last result may not have reached the scheduler
            self.scheduler.record_result(number, result)
        if self.record.ranked:
            self._tell_ranked(number, result, error)
        else:
            state, value, ended = self._outcome(number, result, error)
            values = self.record.study.get_trials(deepcopy=False)[number].intermediate_values
            self.record.set_attrs(number, ended=ended, **best_of(values, self.mode == "max"))
            self.record.finish(number, state, value)

    def _tell_ranked(self, number: int, result: dict[str, Any], error: bool) -> None:
        """A trial of a study judged on several metrics ends: told every objective's last
        value and how far it is past each constraint; ``feasible`` and its best epoch (by
        the primary) with the metrics there, for hpsearch's views."""
        goals = self.record.goals
        assert goals is not None
        last = goals.measured(result)
        if not last:  # the last result went astray: the last metrics the study kept
            kept = kept_at(self.record.trials[number])
            last = kept[max(kept)] if kept else {}
        value = told_values(goals, last)
        stopped = self.scheduler is not None and number in self.scheduler.stopped
        if error:
            state, ended = optuna.trial.TrialState.FAIL, "errored"
        elif result.get("diverged") or any(
            o.metric in result and not is_finite(result[o.metric]) for o in goals.objectives
        ):
            state, ended = optuna.trial.TrialState.PRUNED, "diverged"
        elif value is None:
            state, ended = optuna.trial.TrialState.FAIL, "no score"
        else:
            state, ended = optuna.trial.TrialState.COMPLETE, "stopped" if stopped else "completed"
        attrs: dict[str, Any] = {"ended": ended, **self.record.best_attrs(number)}
        # Feasible or not as the model it keeps (its best epoch's, by the primary): what
        # the front, `best` and an export show; the sampler learns the last values.
        point = attrs.get("best_values") or last
        told = state == optuna.trial.TrialState.COMPLETE
        if told and goals.constraints:
            attrs["feasible"] = is_feasible(point, goals.constraints)
        self.record.set_attrs(number, **attrs)
        self.record.finish(number, state, value, goals.violations(point) if told else None)

    def _outcome(
        self, number: int, result: dict[str, Any], error: bool
    ) -> tuple[optuna.trial.TrialState, float | None, str]:
        """How the study hears of the trial: its state, its value, and why it ended."""
        value = result.get(self.metric)
        if error:
            return optuna.trial.TrialState.FAIL, None, "errored"
        if result.get("diverged") or (value is not None and not is_finite(value)):
            # PRUNED: TPE ranks it worst and steers away from its region.
            return optuna.trial.TrialState.PRUNED, None, "diverged"
        values = self.record.study.get_trials(deepcopy=False)[number].intermediate_values
        stopped = self.scheduler is not None and number in self.scheduler.stopped
        if not values:
            return optuna.trial.TrialState.FAIL, None, "no score"
        # The sampler learns from the last value, stopped trials too (as Ray's
        # OptunaSearch told it): their best would rank early bloomers too high.
        last = values[max(values)]
        return optuna.trial.TrialState.COMPLETE, last, "stopped" if stopped else "completed"

    def save(self, checkpoint_path: str) -> None:
        raise NotImplementedError  # the study's journal holds the state; no pickle

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError


def new_record(
    config: SearchConfig,
    task: str,
    name: str,
    location: str,
    warm: Sequence[FrozenTrial] = (),
    context: SpaceContext | None = None,
) -> StudyRecord:
    """The study of record of a new search; a warm start's trials seed it, marked as such.

    With ``context``, the space's starting point (``starting_point``) is queued as
    the first trial, unless a warm start's trials already hold it.
    """
    direction: Literal["minimize", "maximize"] = (
        "maximize" if config.resolved_mode(task) == "max" else "minimize"
    )
    seeds = [_warm(t, storage.redact(str(config.warm_start))) for t in warm]
    record = StudyRecord.create(
        location, name, direction, *_algorithms(config), earlier=seeds, goals=config.goals(task)
    )
    start = starting_point(config.space, context) if context is not None else {}
    # Optuna's skip_if_exists wants the same parameter names: a warm trial that tried
    # the start also holds what narrowed options left to the sampler.
    tried = any(all(t.params.get(k) == v for k, v in start.items()) for t in record.study.trials)
    if start and not tried:
        record.study.enqueue_trial(start)
        record.sync(force=True)
    return record


def reopened_record(config: SearchConfig, task: str, name: str, location: str) -> StudyRecord:
    """The study of record of an experiment being resumed or extended."""
    return StudyRecord.reopen(
        location, name, *_algorithms(config), config.max_epochs, goals=config.goals(task)
    )


def _algorithms(config: SearchConfig) -> tuple[optuna.samplers.BaseSampler, Any]:
    return build_sampler(config.sampler, config.seed, config.num_samples), build_pruner(config)


def _warm(trial: FrozenTrial, source: str) -> FrozenTrial:
    """A previous search's trial, as the new study holds it: not one of this search's."""
    return optuna.trial.create_trial(
        state=trial.state,
        values=trial.values,
        params=trial.params,
        distributions=trial.distributions,
        intermediate_values=trial.intermediate_values,
        user_attrs={**trial.user_attrs, WARM_START: source},
        constraints=dict(trial.constraints) or None,
    )


def train_settings(config: SearchConfig, task: str) -> TrainSettings:
    """The settings every trial of this search shares."""
    return TrainSettings(
        max_epochs=config.max_epochs,
        metric=config.resolved_metric(task),
        mode=config.resolved_mode(task),
        checkpoint_every=config.checkpoint_every,
        checkpoint_epochs=stop_epochs(config),
        measure_latency=config.measures_latency(task),
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
    pack: int = 1,
    stops: Any = None,
    callbacks: Sequence[tune.Callback] = (),
    data_ref: Any = None,
    record: StudyRecord,
) -> tune.Tuner:
    """Everything Tune needs for one search, and nothing it would default badly.

    The dataset reaches trials through Ray's object store, put there once:
    ``data_ref`` if the caller already put it, else ``with_parameters`` puts
    ``data``. Trials read it from there instead of rebuilding it. With ``pack`` > 1
    each Tune trial trains up to that many trials as one batched model, and ``stops``
    (a :class:`~hpsearch.tuning._stops.PackStops` actor) carries the scheduler's
    decisions to them.
    """
    metric, mode = config.resolved_metric(data.task), config.resolved_mode(data.task)
    shared = {"data": data if data_ref is None else data_ref}
    shared["settings"] = train_settings(config, data.task)
    if pack > 1:
        shared["stops"] = stops
    trainable = tune.with_resources(
        tune.with_parameters(train_pack if pack > 1 else train_mlp, **shared),
        {"cpu": config.cpus_per_trial, "gpu": config.gpus_per_trial},
    )
    context = space_context(config, data)
    define = DefineByRun(config.space, context, config.seed)
    # auto on CPUs: packs only where a step's overhead, which packing saves, is the larger part.
    pays = None
    if config.pack == "auto" and config.gpus_per_trial == 0:
        pays = functools.partial(pays_on_cpu, context=context)
    shared_params = pack_shared(config.space) if pack > 1 else ()
    searcher = StudySearcher(
        record, define, metric, mode, config.num_samples, pack, shared_params, pays
    )
    scheduler = StudyScheduler(
        record, metric, config.max_epochs, config.keep_checkpoints, searcher, stops
    )
    searcher.scheduler = scheduler
    storage_path, storage_filesystem = tune_storage(storage_root)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=searcher,
            scheduler=scheduler,
            # This run's trials: those left to end (a resumed search's unfinished ones too).
            num_samples=config.num_samples - record.ended(),
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
