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
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments import CHECKPOINT_NAME, INTERNAL_KEYS, STUDY_FILE, WARM_START
from hpsearch.metrics import best_score

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


@dataclass(frozen=True)
class Told:
    """An ended trial as the study of record has it."""

    ended: str
    epochs: int
    values: dict[int, float]
    config: dict[str, Any]
    checkpoint: str | None
    tune_trial_id: str

    @classmethod
    def of(cls, trial: FrozenTrial, location: str) -> Told:
        """``trial``'s record; its checkpoint as a location under ``location``."""
        attrs = trial.user_attrs
        checkpoint = attrs.get("checkpoint")
        config = attrs.get("config")
        return cls(
            ended=str(attrs.get("ended", "")),
            epochs=max(trial.intermediate_values, default=0),
            values=dict(trial.intermediate_values),
            config=dict(config) if isinstance(config, dict) else {},
            checkpoint=storage.join(location, checkpoint) if _relative(checkpoint) else None,
            tune_trial_id=str(attrs.get("tune_trial_id", "")),
        )


class StudyRecord:
    """The experiment's study, open for writing by this driver."""

    def __init__(self, location: str, study: optuna.Study, journal: Path) -> None:
        self.location = location
        self.study = study
        self.journal = journal
        self.trials: dict[int, optuna.Trial] = {}
        self._synced_size = -1
        self._synced_at = 0.0

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
    ) -> StudyRecord:
        """A new study for the experiment at ``location``; ``earlier`` trials (a warm
        start's, or a resumed study's) are added first, keeping their order."""
        journal = _journal_path(location)
        study = optuna.create_study(
            study_name=name,
            storage=_storage(journal),
            direction=direction,
            sampler=sampler,
            pruner=pruner,
        )
        for trial in earlier:
            study.add_trial(trial)
        record = cls(location, study, journal)
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
    ) -> StudyRecord:
        """The experiment's study for a resumed search: trials that ended as they are
        (also those that ended unheard: trained to ``max_epochs``, or stopped by the
        pruner, before the kill let the study be told), unfinished ones WAITING (with
        their values so far), so that asking the study
        hands them back under their own numbers before any new trial."""
        old = load_study(location, name)
        trials = rebuilt_trials(old, location, max_epochs)
        journal = _journal_path(location)
        fresh = journal.with_name(f".{journal.name}.rebuild")
        fresh.unlink(missing_ok=True)
        _drop_stale_locks(fresh)
        study = optuna.create_study(
            study_name=name,
            storage=_storage(fresh),
            direction=old.direction,
            sampler=sampler,
            pruner=pruner,
        )
        for key, value in old.user_attrs.items():
            study.set_user_attr(key, value)
        for trial in trials:
            study.add_trial(trial)
        os.replace(fresh, journal)  # the rebuilt journal, whole, under the name readers use
        _drop_stale_locks(journal)
        study = optuna.load_study(
            study_name=name, storage=_storage(journal), sampler=sampler, pruner=pruner
        )
        record = cls(location, study, journal)
        record.sync(force=True)
        return record

    # Trials ---------------------------------------------------------------------------

    def ask(self, define: Callable[[optuna.Trial], dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        """The next trial (a WAITING one first: it continues) and its config."""
        trial = self.study.ask()
        self.trials[trial.number] = trial
        config = define(trial)
        # The trial's hyperparameters, so the study alone can tell what it trained.
        trial.set_user_attr("config", {k: v for k, v in config.items() if k not in _NOT_CONFIG})
        checkpoint = trial.user_attrs.get("checkpoint")
        earlier = self.study.get_trials(deepcopy=False)[trial.number].intermediate_values
        if earlier and _relative(checkpoint):
            # An unfinished trial of an earlier run: it continues from its checkpoint.
            config["resume_from"] = storage.join(self.location, checkpoint)
        return trial.number, config

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

    def set_attrs(self, number: int, **attrs: Any) -> None:
        """hpsearch's attributes of a trial (JSON values)."""
        for key, value in attrs.items():
            self.trials[number].set_user_attr(key, value)

    def finish(self, number: int, state: TrialState, value: float | None) -> None:
        """Tell the study how the trial ended; its value only if COMPLETE."""
        trial = self.trials.pop(number)
        if state == TrialState.COMPLETE and value is not None:
            self.study.tell(trial, value)
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


def rebuilt_trials(study: optuna.Study, location: str, max_epochs: int | None) -> list[FrozenTrial]:
    """The trials a resumed study of ``study`` holds (:func:`_continuing`), each checked
    as a study takes it: a journal is data from storage, and one a study would refuse
    is one line (:class:`UserError`), not a traceback."""
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    check = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    trials = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        try:
            _check_values(trial)
            rebuilt = _continuing(trial, location, max_epochs, maximize)
            check.add_trial(rebuilt)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
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


def _ended_unheard(trial: FrozenTrial, max_epochs: int | None) -> str | None:
    """How an unfinished trial ended if it did before the study was told: trained to
    the last epoch, or stopped by the pruner (``stopped_at``)."""
    values = trial.intermediate_values
    if values and max_epochs is not None and max(values) >= max_epochs:
        return "completed"
    if isinstance(trial.user_attrs.get("stopped_at"), int) and values:
        return "stopped"
    return None


def _continuing(
    trial: FrozenTrial, location: str, max_epochs: int | None, maximize: bool
) -> FrozenTrial:
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
    attrs = dict(trial.user_attrs)
    how = _ended_unheard(trial, max_epochs)
    if how is not None:  # told now as the searcher would have: its last value
        values = trial.intermediate_values
        return optuna.trial.create_trial(
            value=values[max(values)],
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={**attrs, "ended": how, **best_of(values, maximize)},
            intermediate_values=values,
        )
    checkpoint, epoch = attrs.get("checkpoint"), attrs.get("checkpoint_epoch")
    values = trial.intermediate_values
    sane = type(epoch) is int and 1 <= epoch <= max(values, default=0)
    kept = sane and _relative(checkpoint) and storage.exists(storage.join(location, checkpoint))
    until = epoch if kept and isinstance(epoch, int) else 0
    if not kept:
        attrs.pop("checkpoint", None)
        attrs.pop("checkpoint_epoch", None)
    return optuna.trial.create_trial(
        state=TrialState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=attrs,
        intermediate_values={s: v for s, v in values.items() if s <= until},
    )


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
