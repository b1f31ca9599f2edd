"""The experiment as an Optuna study: what the report charts and a warm start replays.

The study of record is the search's journal, ``study.journal`` (:func:`open_study`
reads it, read-only). An experiment written before the journal existed has its
study rebuilt in memory from what each trial recorded (:func:`build_study`:
Optuna's raw params and distributions, its per-epoch metric). Either way plain
JSON, nothing unpickled. Optuna loads on first use, not on import: ``hpsearch
list`` never needs it.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hpsearch.errors import UserError
from hpsearch.experiments._layout import STUDY_FILE
from hpsearch.metrics import is_finite
from hpsearch.storage import join, read_bytes

if TYPE_CHECKING:
    import optuna
    from optuna.storages import JournalStorage

    from hpsearch.experiments._experiment import Experiment, TrialRecord

# Trial states -> how the rebuilt Optuna study sees them, as the sampler saw
# them during the search: trials the scheduler stopped are complete with their
# best value; diverged ones pruned (ranked worst by TPE); unfinished ones
# pruned (curves, no ranking); errored ones failed (ignored).
_STUDY_STATE = {
    "completed": "COMPLETE",
    "stopped": "COMPLETE",
    "diverged": "PRUNED",
    "errored": "FAIL",
    "running": "PRUNED",
    "interrupted": "PRUNED",
}


def build_study(
    exp: Experiment, storage: optuna.storages.BaseStorage | None = None
) -> optuna.Study:
    """An Optuna study holding the experiment's trials, as the sampler saw them, rebuilt
    from the trials' files (in memory unless ``storage`` is given).

    A search of several objectives gives a study of as many directions, each finished
    trial told its point (:meth:`Experiment.point`) and no per-epoch values (Optuna
    keeps none for such studies); with constraints, each trial carries its violations.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=exp.name,
        storage=storage,
        directions=[DIRECTION[o.mode] for o in exp.objectives],
    )
    if exp.multi_objective:
        name_metrics(study, exp)
    for trial in exp.trials:
        if trial.optuna:
            study.add_trial(_rebuilt_trial(exp, trial))
    return study


#: Optuna's direction of an objective's mode.
DIRECTION: dict[str, Literal["minimize", "maximize"]] = {"max": "maximize", "min": "minimize"}


def name_metrics(study: optuna.Study, exp: Experiment) -> None:
    """Name ``study``'s values by the experiment's objectives (the charts' axis titles)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.metric for o in exp.objectives])


def _rebuilt_trial(exp: Experiment, trial: TrialRecord) -> optuna.trial.FrozenTrial:
    """One trial of :func:`build_study`."""
    import optuna

    assert trial.optuna is not None
    point = exp.point(trial)
    values = [point[o.metric] for o in exp.objectives]
    state = getattr(optuna.trial.TrialState, _STUDY_STATE[trial.state])
    if state == optuna.trial.TrialState.COMPLETE and not all(map(is_finite, values)):
        state = optuna.trial.TrialState.FAIL
    # Optuna keeps no per-epoch values for a study of several objectives.
    curve = {} if exp.multi_objective else _curve(trial, exp.metric)
    attrs: dict[str, Any] = {"trial_id": trial.trial_id, "hpsearch_state": trial.state}
    if exp.multi_objective or exp.constraints:
        attrs["best_values"] = point
    return optuna.trial.create_trial(
        params=trial.optuna["params"],
        distributions={
            name: optuna.distributions.json_to_distribution(text)
            for name, text in trial.optuna["distributions"].items()
        },
        values=values if state == optuna.trial.TrialState.COMPLETE else None,
        state=state,
        intermediate_values=curve,
        user_attrs=attrs,
        constraints={c.text: c.violation(point.get(c.metric)) for c in exp.constraints} or None,
    )


def _curve(trial: TrialRecord, metric: str) -> dict[int, float]:
    """The trial's finite ``metric`` by epoch."""
    return {
        int(row["epoch"]): float(row[metric]) for row in trial.history if is_finite(row.get(metric))
    }


def journal_location(exp: Experiment) -> str:
    """Where the experiment's study journal is (a path or a URI), whether or not it exists."""
    return join(exp.location, STUDY_FILE)


def is_remote(exp: Experiment) -> bool:
    """Whether the experiment is on a storage URI (its journal is read from a copy)."""
    return "://" in exp.location


def open_study(exp: Experiment) -> optuna.Study:
    """The experiment's study of record, read-only: what its journal holds now.

    For an experiment on a storage URI, the journal is downloaded to a temporary
    copy (removed with the study). An experiment written before the journal
    existed has none: its study is then rebuilt from the trials' files
    (:func:`build_study`). A write to a journal's study raises
    ``PermissionError``.

    Example:
        >>> study = open_study(load_experiment("spirals-mlp-20261127-101500"))  # doctest: +SKIP
        >>> optuna.importance.get_param_importances(study)  # doctest: +SKIP
    """
    study = journal_study(exp)
    return build_study(exp) if study is None else study


def journal_study(exp: Experiment) -> optuna.Study | None:
    """The experiment's study as its journal holds it now, read-only (see
    :func:`open_study`); ``None`` for an experiment written before the journal."""
    import optuna

    if not is_remote(exp):
        path = Path(journal_location(exp))
        if not path.is_file():
            return None
        journal, _ = read_journal(path, exp)
    else:
        content = read_bytes(journal_location(exp))
        if content is None:
            return None
        folder = tempfile.mkdtemp(prefix="hpsearch-study-")
        (Path(folder) / STUDY_FILE).write_bytes(content)
        try:
            journal, _ = read_journal(Path(folder) / STUDY_FILE, exp)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        weakref.finalize(journal, shutil.rmtree, folder, ignore_errors=True)
    return optuna.load_study(study_name=exp.name, storage=journal)


def read_journal(path: Path, exp: Experiment) -> tuple[JournalStorage, int]:
    """A read-only Optuna storage on the journal file at ``path`` (the experiment's or a
    copy of it) and the storage id of the experiment's study in it."""
    import optuna
    from optuna.storages import JournalStorage

    from hpsearch.experiments._dashboard import ReadOnlyJournal

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        journal = JournalStorage(ReadOnlyJournal(str(path)))
    except _MALFORMED as exc:  # not JSON lines as Optuna writes them
        what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"experiment {exp.name!r}: its {STUDY_FILE} is unreadable: {what}"
        ) from None
    try:
        return journal, journal.get_study_id_from_name(exp.name)
    except KeyError:
        raise UserError(
            f"experiment {exp.name!r}: its {STUDY_FILE} holds no study named {exp.name!r}",
            "it is not the journal hpsearch writes",
        ) from None


# What a journal that is not Optuna's raises when replayed (JSONDecodeError is a ValueError).
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)
