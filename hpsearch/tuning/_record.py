"""The study of record: the search's Optuna study, in a journal beside its results.

The driver is the only writer. Every trial is asked from this study, reports
its per-epoch metric into it (what the pruners judge), and is told how it
ended, with hpsearch's attributes (best epoch, why it ended, its checkpoint,
the Tune trial it ran as). A journal is JSON lines: reading one back never
unpickles anything, so resume, warm start, the report and the dashboard can
trust it as data.

On object storage the journal is written to a local file and uploaded as it
changes, at most every :data:`SYNC_S` seconds, whenever a trial is asked (before
Tune can write its folder) and when the search ends.
"""

from __future__ import annotations

import copy
import glob
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments import CHECKPOINT_NAME, INTERNAL_KEYS, STUDY_FILE, WARM_START
from hpsearch.metrics import best_score, is_better, is_finite
from hpsearch.objectives import Goals, is_feasible

#: Seconds between uploads of a journal kept on object storage.
SYNC_S = 5.0
#: Keys of a trial's config that are hpsearch's, not hyperparameters.
_NOT_CONFIG = INTERNAL_KEYS
#: Samplers' system attributes that Optuna unpickles (CMA-ES's optimizer, in its three
#: variants): never carried into a resumed study. tests/test_compat.py checks that no
#: other ``pickle.loads`` is reachable in the installed Optuna.
PICKLED_ATTRS = ("cma:optimizer", "sepcma:optimizer", "cmawm:optimizer")
#: States of a trial that ended; the others continue on resume.
ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: A trial's metrics at an epoch, in a study whose trials are judged on several
#: (:attr:`Goals.ranked`): ``at:<epoch>`` = {metric: value}, written at the epochs the
#: rung rule judges and at the last (Optuna takes no per-epoch values for several
#: objectives).
AT = "at:"
_CHECKPOINT_ATTRS = ("checkpoint", "checkpoint_epoch")
_EPOCH = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Told:
    """An ended trial as the study of record has it."""

    ended: str
    epochs: int
    values: dict[int, float]
    config: dict[str, Any]
    checkpoint: str | None
    tune_trial_id: str
    best_epoch: int = 0
    best_values: dict[str, float] = field(default_factory=dict)  # a ranked study's
    in_pack: bool = False  # trained in a pack (whose Tune id it shares)

    @classmethod
    def of(cls, trial: FrozenTrial, location: str) -> Told:
        """``trial``'s record; its checkpoint as a location under ``location``."""
        attrs = trial.user_attrs
        checkpoint = attrs.get("checkpoint")
        config = attrs.get("config")
        best = attrs.get("best_values")
        epoch = attrs.get("best_epoch")
        return cls(
            ended=str(attrs.get("ended", "")),
            epochs=max([*trial.intermediate_values, *kept_at(trial)], default=0),
            values=dict(trial.intermediate_values),
            config=dict(config) if isinstance(config, dict) else {},
            checkpoint=storage.join(location, checkpoint) if _relative(checkpoint) else None,
            tune_trial_id=str(attrs.get("tune_trial_id", "")),
            best_epoch=epoch if type(epoch) is int else 0,
            best_values={k: float(v) for k, v in best.items() if is_finite(v)}
            if isinstance(best, dict)
            else {},
            in_pack=attrs.get("in_pack") is True,
        )


class StudyRecord:
    """The experiment's study, open for writing by this driver."""

    def __init__(
        self, location: str, study: optuna.Study, journal: Path, goals: Goals | None = None
    ) -> None:
        self.location = location
        self.study = study
        self.journal = journal
        self.goals = goals
        self.trials: dict[int, optuna.Trial] = {}
        #: Epochs whose metrics a ranked study keeps (``at:<epoch>``): set by the scheduler.
        self.marks: frozenset[int] = frozenset()
        #: Each running trial's best epoch by the primary objective, and its metrics there.
        self.best: dict[int, tuple[int, dict[str, float]]] = {}
        self._synced_size = -1
        self._synced_at = 0.0

    @property
    def ranked(self) -> bool:
        """Whether trials are judged on several metrics (``at:`` entries), not one value."""
        return self.goals is not None and self.goals.ranked

    # Opening --------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        location: str,
        name: str,
        direction: Literal["minimize", "maximize"],
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
        earlier: Iterable[FrozenTrial] = (),
        goals: Goals | None = None,
    ) -> StudyRecord:
        """A new study for the experiment at ``location``; ``earlier`` trials (a warm
        start's, or a resumed study's) are added first, keeping their order. With
        ``goals`` its directions are the objectives' (``direction`` is then unused)."""
        journal = _journal_path(location)
        study = optuna.create_study(
            study_name=name,
            storage=_storage(journal),
            directions=goals.directions if goals else [direction],
            sampler=sampler,
            pruner=pruner,
        )
        if goals is not None and goals.ranked:
            _name_goals(study, goals)
        for trial in earlier:
            study.add_trial(trial)
        record = cls(location, study, journal, goals)
        record.sync(force=True)
        return record

    @classmethod
    def reopen(
        cls,
        location: str,
        name: str,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
        max_epochs: int | None = None,
        goals: Goals | None = None,
    ) -> StudyRecord:
        """The experiment's study for a resumed search: trials that ended as they are
        (also those that ended unheard: trained to ``max_epochs``, or stopped by the
        pruner, before the kill let the study be told), unfinished ones WAITING (with
        their values so far), so that asking the study
        hands them back under their own numbers before any new trial."""
        old = load_study(location, name)
        trials = rebuilt_trials(old, location, max_epochs, goals)
        journal = _journal_path(location)
        fresh = journal.with_name(f".{journal.name}.rebuild")
        fresh.unlink(missing_ok=True)
        _drop_stale_locks(fresh)
        study = optuna.create_study(
            study_name=name,
            storage=_storage(fresh),
            directions=old.directions,
            sampler=sampler,
            pruner=pruner,
        )
        for key, value in old.user_attrs.items():
            study.set_user_attr(key, value)
        if goals is not None and goals.ranked:
            _name_goals(study, goals)
        for trial in trials:
            study.add_trial(trial)
        os.replace(fresh, journal)  # the rebuilt journal, whole, under the name readers use
        _drop_stale_locks(journal)
        study = optuna.load_study(
            study_name=name, storage=_storage(journal), sampler=sampler, pruner=pruner
        )
        record = cls(location, study, journal, goals)
        record.sync(force=True)
        return record

    # Trials ---------------------------------------------------------------------------

    def ask(
        self,
        define: Callable[[optuna.Trial], dict[str, Any]],
        fixed: Mapping[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """The next trial (a WAITING one first: it continues) and its config; ``fixed``
        parameters take the given values (a pack's shared structure), the sampler draws
        the others."""
        with self._fixed(fixed or {}):  # the sampler draws in ask() and in define()
            trial = self.study.ask()
            self.trials[trial.number] = trial
            config = define(trial)
        # The trial's hyperparameters, so the study alone can tell what it trained.
        trial.set_user_attr("config", {k: v for k, v in config.items() if k not in _NOT_CONFIG})
        checkpoint = trial.user_attrs.get("checkpoint")
        if _relative(checkpoint):
            # An unfinished trial of an earlier run: it continues from its checkpoint.
            config["resume_from"] = storage.join(self.location, checkpoint)
            self._recall_best(trial)
        return trial.number, config

    @contextmanager
    def _fixed(self, fixed: Mapping[str, Any]) -> Iterator[None]:
        """The study's sampler draws ``fixed``'s parameters as given, the rest as usual."""
        if not fixed:
            yield
            return
        sampler = self.study.sampler
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.study.sampler = optuna.samplers.PartialFixedSampler(dict(fixed), sampler)
        try:
            yield
        finally:
            self.study.sampler = sampler

    def _recall_best(self, trial: optuna.Trial) -> None:
        """A continued trial's best so far, as its checkpoint was made (ranked studies)."""
        epoch, values = trial.user_attrs.get("best_epoch"), trial.user_attrs.get("best_values")
        if type(epoch) is int and isinstance(values, dict):
            self.best[trial.number] = (epoch, {k: v for k, v in values.items() if is_finite(v)})

    def asked(self) -> int:
        """This search's trials in the study (ended, running, waiting; a warm start's
        trials are not this search's)."""
        return sum(WARM_START not in t.user_attrs for t in self.study.get_trials(deepcopy=False))

    def ended(self) -> int:
        """This search's trials that ended."""
        return sum(
            WARM_START not in t.user_attrs and t.state in ENDED
            for t in self.study.get_trials(deepcopy=False)
        )

    def waiting(self) -> int:
        """Unfinished trials of an earlier run not handed out yet."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def from_checkpoint(self) -> int:
        """Unfinished trials of an earlier run that continue from a checkpoint."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return sum("checkpoint" in t.user_attrs for t in waiting)

    def told(self) -> dict[int, Told]:
        """What the study was told of this search's ended trials, by number: what
        storage's result files may not show yet (Tune copies them there every few
        seconds, so they lag the study when the driver is killed)."""
        return {
            t.number: Told.of(t, self.location)
            for t in self.study.get_trials(deepcopy=False)
            if t.state in ENDED and WARM_START not in t.user_attrs
        }

    def report(self, number: int, epoch: int, value: float) -> bool:
        """The trial's ``value`` at ``epoch`` (each epoch once: a restart re-reports);
        whether it was new."""
        trial = self.trials[number]
        if epoch in self.study.get_trials(deepcopy=False)[number].intermediate_values:
            return False
        trial.report(value, epoch)
        return True

    def should_prune(self, number: int) -> bool:
        """The study's pruner on the trial's values so far (every earlier trial counts)."""
        return bool(self.trials[number].should_prune())

    def note(self, number: int, epoch: int, values: dict[str, float], keep: bool = False) -> bool:
        """A ranked study's view of an epoch: the trial's best by the primary objective
        follows it, and at the :attr:`marks` (or with ``keep``) its metrics are kept as
        ``at:<epoch>`` (each once: a restart re-reports); whether they were new there."""
        assert self.goals is not None
        primary = self.goals.primary
        value = values.get(primary.metric)
        best = self.best.get(number)
        if is_finite(value) and is_better(
            value, best[1][primary.metric] if best else None, primary.mode
        ):
            self.best[number] = (epoch, values)
        if not (keep or epoch in self.marks):
            return False
        key = f"{AT}{epoch}"
        if key in self.study.get_trials(deepcopy=False)[number].user_attrs:
            return False
        self.trials[number].set_user_attr(key, values)
        return True

    def best_attrs(self, number: int) -> dict[str, Any]:
        """A ranked study's trial's best epoch (by the primary) and its metrics there."""
        if number not in self.best:
            return {}
        epoch, values = self.best[number]
        return {
            "best_epoch": epoch,
            "best_value": values[self.goals.primary.metric] if self.goals else None,
            "best_values": values,
        }

    def set_attrs(self, number: int, **attrs: Any) -> None:
        """hpsearch's attributes of a trial (JSON values)."""
        for key, value in attrs.items():
            self.trials[number].set_user_attr(key, value)

    def finish(
        self,
        number: int,
        state: TrialState,
        value: float | list[float] | None,
        constraints: dict[str, float] | None = None,
    ) -> None:
        """Tell the study how the trial ended; its value (or values) only if COMPLETE,
        with how far it is past each constraint (set first: a told trial takes none)."""
        trial = self.trials.pop(number)
        self.best.pop(number, None)
        if state == TrialState.COMPLETE and value is not None:
            for key, over in (constraints or {}).items():
                trial.set_constraint(key, over)
            # COMPLETE named: without it, a count of values that does not match the
            # directions turns the trial into FAIL with a mere warning.
            self.study.tell(trial, value, state=TrialState.COMPLETE)
        else:
            self.study.tell(trial, state=state)

    # Storage --------------------------------------------------------------------------

    def sync(self, force: bool = False, final: bool = False) -> None:
        """Upload the journal if it lives on object storage and changed (at most every
        :data:`SYNC_S` s unless ``force``). A failed upload is tried again at the next
        sync (a storage hiccup must not end the search); the ``final`` one raises."""
        if not _remote(self.location):
            return
        size = self.journal.stat().st_size
        now = time.monotonic()
        if size == self._synced_size or (not force and now - self._synced_at < SYNC_S):
            return
        try:
            storage.write_bytes(storage.join(self.location, STUDY_FILE), self.journal.read_bytes())
        except (OSError, UserError):
            if final:
                raise
            self._synced_at = now  # the next try waits its turn
            return
        self._synced_size, self._synced_at = size, now

    def close(self) -> None:
        """Upload what is left; remove the local copy of a remote journal."""
        self.sync(force=True, final=True)
        if _remote(self.location):
            shutil.rmtree(self.journal.parent, ignore_errors=True)


def load_study(location: str, name: str) -> optuna.Study:
    """The study of the experiment at ``location`` as its journal holds it (a copy for a
    remote one), for reading."""
    path = storage.join(location, STUDY_FILE)
    here = storage.local_path(location)
    if here is not None:
        return optuna.load_study(study_name=name, storage=_storage(here / STUDY_FILE))
    with tempfile.TemporaryDirectory(prefix="hpsearch-study-") as folder:
        local = Path(folder) / STUDY_FILE
        local.write_bytes(storage.read_bytes(path) or b"")
        # Copied into memory: the download is gone once read.
        memory = optuna.storages.InMemoryStorage()
        optuna.copy_study(from_study_name=name, from_storage=_storage(local), to_storage=memory)
        return optuna.load_study(study_name=name, storage=memory)


def rebuilt_trials(
    study: optuna.Study, location: str, max_epochs: int | None, goals: Goals | None = None
) -> list[FrozenTrial]:
    """The trials a resumed study of ``study`` holds (:func:`_continuing`), each checked
    as a study takes it: a journal is data from storage, and one a study would refuse
    is one line (:class:`UserError`), not a traceback."""
    check = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), directions=study.directions
    )
    rebuild = _Rebuild(location, max_epochs, study.directions, goals)
    trials = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        try:
            _check_values(trial)
            rebuilt = rebuild.continuing(trial)
            check.add_trial(rebuilt)
            Told.of(rebuilt, location)  # what the summary reads of it must read
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"the {STUDY_FILE} of {storage.redact(location)} holds a trial a study "
                f"cannot take back (trial {trial.number}: {what})",
                "it is not the journal hpsearch writes",
            ) from None
        trials.append(rebuilt)
    return trials


def _check_values(trial: FrozenTrial) -> None:
    """Epochs are whole numbers, values finite numbers (what hpsearch reports)."""
    for step, value in trial.intermediate_values.items():
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"epoch {step!r} is not a whole number")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"the value at epoch {step} is {value!r}")


def best_of(values: dict[int, float], maximize: bool) -> dict[str, Any]:
    """hpsearch's attributes of a trial's best epoch (the earliest of equals)."""
    rows = [{"epoch": e, "value": values[e]} for e in sorted(values)]
    best, epoch = best_score(rows, "value", "max" if maximize else "min")
    return {} if best is None else {"best_value": best, "best_epoch": epoch}


def kept_at(trial: FrozenTrial | optuna.Trial) -> dict[int, dict[str, Any]]:
    """A ranked study's trial's ``at:<epoch>`` entries, by epoch (only well-formed ones:
    the journal is data from storage)."""
    found = {}
    for key, value in trial.user_attrs.items():
        epoch = key[len(AT) :]
        # ASCII digits only ("²" is a digit to str.isdigit), and no absurd lengths.
        if key.startswith(AT) and _EPOCH.fullmatch(epoch) and isinstance(value, dict):
            found[int(epoch)] = value
    return found


def told_values(goals: Goals, values: dict[str, Any]) -> float | list[float] | None:
    """What the study is told of a trial whose last metrics are ``values``: the primary's
    value (one objective) or every objective's; None if one is missing or not finite."""
    found = [values.get(o.metric) for o in goals.objectives]
    if not all(is_finite(v) for v in found):
        return None
    numbers = [float(v) for v in found if is_finite(v)]
    return numbers if goals.multi else numbers[0]


@dataclass(frozen=True)
class _Rebuild:
    """How a resumed study holds each trial of the study it continues."""

    location: str
    max_epochs: int | None
    directions: list[optuna.study.StudyDirection]
    goals: Goals | None

    @property
    def ranked(self) -> bool:
        return self.goals is not None and self.goals.ranked

    def continuing(self, trial: FrozenTrial) -> FrozenTrial:
        """A trial as a resumed study holds it: an ended one as it was, an unfinished one
        WAITING with its values up to the checkpoint it continues from (none if it has no
        checkpoint left: it starts over). The system attributes Optuna would unpickle are
        dropped (:data:`PICKLED_ATTRS`): the journal is data from storage."""
        if trial.state in ENDED:
            ended = copy.deepcopy(trial)
            ended.system_attrs = {
                k: v for k, v in trial.system_attrs.items() if not k.startswith(PICKLED_ATTRS)
            }
            return ended
        unheard = self._ended_unheard(trial)
        if unheard is not None:
            return unheard
        attrs = dict(trial.user_attrs)
        checkpoint, epoch = attrs.get("checkpoint"), attrs.get("checkpoint_epoch")
        values = trial.intermediate_values
        reached = max([*values, *kept_at(trial)], default=0)
        sane = type(epoch) is int and 1 <= epoch <= reached
        kept = (
            sane
            and _relative(checkpoint)
            and storage.exists(storage.join(self.location, checkpoint))
        )
        until = epoch if kept and isinstance(epoch, int) else 0
        if not kept:
            for key in (
                "checkpoint",
                "checkpoint_epoch",
                "best_epoch",
                "best_value",
                "best_values",
            ):
                attrs.pop(key, None)
        for at in kept_at(trial):
            if at > until:  # run again from the checkpoint
                attrs.pop(f"{AT}{at}")
        return optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=attrs,
            system_attrs=_queued(trial),
            intermediate_values={s: v for s, v in values.items() if s <= until},
        )

    def _ended_unheard(self, trial: FrozenTrial) -> FrozenTrial | None:
        """An unfinished trial that ended before the study was told (trained to the last
        epoch, or stopped by the pruner: ``stopped_at``), told now as the searcher would
        have: with its last value (or metrics)."""
        attrs = dict(trial.user_attrs)
        stopped = attrs.get("stopped_at")
        if self.ranked and self.goals is not None:
            entries = kept_at(trial)
            last = self.max_epochs if self.max_epochs in entries else stopped
            if type(last) is not int or last not in entries:
                return None
            metrics = entries[last]
            value = told_values(self.goals, metrics)
            if value is None:
                return None
            how = "completed" if last == self.max_epochs else "stopped"
            if self.goals.constraints:
                attrs["feasible"] = is_feasible(metrics, self.goals.constraints)
            return optuna.trial.create_trial(
                values=value if isinstance(value, list) else [value],
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={**attrs, "ended": how},
                intermediate_values=trial.intermediate_values,
                constraints=self.goals.violations(metrics) or None,
            )
        values = trial.intermediate_values
        if not values:
            return None
        if self.max_epochs is not None and max(values) >= self.max_epochs:
            how = "completed"
        elif isinstance(stopped, int):
            how = "stopped"
        else:
            return None
        maximize = self.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        return optuna.trial.create_trial(
            value=values[max(values)],
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={**attrs, "ended": how, **best_of(values, maximize)},
            intermediate_values=values,
        )


def _queued(trial: FrozenTrial) -> dict[str, Any] | None:
    """A queued trial's fixed parameters (the space's starting point), kept when the
    search was killed before handing it out, so the resumed search still tries it.
    Only plain values: the journal is data from storage."""
    fixed = trial.system_attrs.get("fixed_params")
    if trial.params or not isinstance(fixed, dict):
        return None
    plain = (str, int, float, bool)
    kept = {k: v for k, v in fixed.items() if isinstance(k, str) and isinstance(v, plain)}
    return {"fixed_params": kept} if kept else None


def _name_goals(study: optuna.Study, goals: Goals) -> None:
    """What a ranked study optimizes, for anyone who opens it with plain Optuna: each
    value's metric, and the objectives and constraints as hpsearch writes them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.metric for o in goals.objectives])
    study.set_user_attr("objectives", [o.text for o in goals.objectives])
    study.set_user_attr("constraints", [c.text for c in goals.constraints])


def _drop_stale_locks(journal: Path) -> None:
    """Remove the lock a killed driver left on ``journal``: the caller holds the
    experiment's claim, so no other writer can hold it, and Optuna would wait 30 s
    for it to age before taking it over."""
    for lock in journal.parent.glob(f"{glob.escape(journal.name)}.lock*"):
        lock.unlink(missing_ok=True)


def _relative(checkpoint: Any) -> TypeGuard[str]:
    """A checkpoint named as hpsearch records it: ``trial_<id>/checkpoint_<n>``, nothing else
    (the journal is data from storage: never a path outside the experiment)."""
    return isinstance(checkpoint, str) and bool(CHECKPOINT_NAME.fullmatch(checkpoint))


def _journal_path(location: str) -> Path:
    folder = storage.local_path(location)
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="hpsearch-study-")) / STUDY_FILE
    folder.mkdir(parents=True, exist_ok=True)
    return folder / STUDY_FILE


def _storage(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def _remote(location: str) -> bool:
    return storage.local_path(location) is None
