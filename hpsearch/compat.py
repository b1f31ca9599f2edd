"""Every use of a private attribute of Ray or Optuna, in one place.

hpsearch reaches into library internals only where the public API has no
way to do what a search needs (each function says what and why). Each name is
listed in :data:`PRIVATE`, and tests/test_compat.py checks every one on
the installed versions, so an upgrade that removes one fails a test naming it
instead of breaking a resume silently. Anything else in hpsearch uses public
APIs only (tests/test_compat.py checks the source for it).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

#: (module, class, attribute, why): every private name this module touches.
PRIVATE: tuple[tuple[str, str, str, str], ...] = (
    ("ray.tune.schedulers", "AsyncHyperBandScheduler", "_brackets", "bracket by trial id"),
    ("ray.tune.schedulers", "AsyncHyperBandScheduler", "_trial_info", "bracket by trial id"),
    ("ray.tune.schedulers.async_hyperband", "_Bracket", "_rungs", "replay rungs on resume"),
    ("ray.tune.schedulers", "MedianStoppingRule", "_results", "replay means on resume"),
    ("ray.tune.schedulers", "MedianStoppingRule", "_on_insufficient_samples", "never pause"),
    ("ray.tune.search.optuna", "OptunaSearch", "_ot_study", "warm start; PRUNED trials"),
    ("ray.tune.search.optuna", "OptunaSearch", "_ot_trials", "diverged trials told PRUNED"),
    ("ray.tune.search.optuna", "OptunaSearch", "_completed_trials", "told once only"),
    ("ray.tune.search", "SearchGenerator", "_total_samples", "resume asks for more trials"),
    ("ray.tune.search", "SearchGenerator", "_finished", "resume asks for more trials"),
    ("ray.tune.search", "SearchGenerator", "_experiment", "resumed after a move"),
    ("ray.tune", "Tuner", "_local_tuner", "this run's callbacks and searcher on restore"),
    ("ray.tune.impl.tuner_internal", "TunerInternal", "_run_config", "this run's callbacks"),
    ("ray.tune.impl.tuner_internal", "TunerInternal", "_tune_config", "this run's searcher"),
    ("ray.train._internal.storage", "", "get_fs_and_path", "resumed after a move"),
    ("ray.tune.search.optuna.optuna_search", "_OptunaTrialSuggestCaptor", "ot_trial", "record"),
    ("ray._private.ray_constants", "", "ENABLE_RAY_CLUSTER", "loopback when Ray came first"),
)

#: Private hooks hpsearch's subclasses override (the rest is only read or set here).
OVERRIDES = frozenset({"_on_insufficient_samples"})


class PrivateAttributeGone(RuntimeError):
    """A Ray or Optuna internal hpsearch relies on is not in the installed version."""


def private(owner: Any, name: str) -> Any:
    """``owner.<name>``, or an error naming it and the versions installed."""
    try:
        return getattr(owner, name)
    except AttributeError:
        raise PrivateAttributeGone(_gone(owner, name)) from None


def set_private(owner: Any, name: str, value: Any) -> None:
    """``owner.<name> = value`` for an attribute that must already exist."""
    private(owner, name)
    setattr(owner, name, value)


def _gone(owner: Any, name: str) -> str:
    import optuna
    import ray

    what = owner.__name__ if isinstance(owner, type) else type(owner).__qualname__
    return (
        f"{what}.{name} is not in the installed Ray {ray.__version__} / Optuna "
        f"{optuna.__version__}: hpsearch needs updating for them (hpsearch/compat.py)"
    )


# ASHA ---------------------------------------------------------------------------------


def asha_brackets(scheduler: Any) -> list[Any]:
    """ASHA's brackets: a trial's bracket is chosen from its id (resumable), not drawn."""
    return list(private(scheduler, "_brackets"))


def assign_bracket(scheduler: Any, trial_id: str, bracket: Any) -> None:
    """Put a trial in ``bracket`` (Ray drew one at random when the trial was added)."""
    private(scheduler, "_trial_info")[trial_id] = bracket


def bracket_rungs(bracket: Any) -> list[tuple[float, dict[str, float]]]:
    """A bracket's rungs, ``(milestone, {trial_id: recorded value})``, to replay on resume."""
    return list(private(bracket, "_rungs"))


# The median stopping rule -------------------------------------------------------------------


def median_results(scheduler: Any) -> dict[Any, list[dict[str, float]]]:
    """The median rule's per-trial results, by trial: replayed on resume, de-duplicated."""
    results: dict[Any, list[dict[str, float]]] = private(scheduler, "_results")
    return results


# OptunaSearch ------------------------------------------------------------------------------


def optuna_study(searcher: Any) -> Any:
    """The study behind Ray's OptunaSearch: a warm start adds earlier trials to it."""
    return private(searcher, "_ot_study")


def tell_pruned(searcher: Any, trial_id: str) -> bool:
    """Tell Optuna a Tune trial ended PRUNED (Ray's OptunaSearch can only say COMPLETE
    or FAIL); False if it was told already."""
    import optuna

    completed: set[str] = private(searcher, "_completed_trials")
    if trial_id in completed:
        return False
    study: optuna.Study = private(searcher, "_ot_study")
    study.tell(private(searcher, "_ot_trials")[trial_id], state=optuna.trial.TrialState.PRUNED)
    completed.add(trial_id)
    return True


# Restoring a Tuner ---------------------------------------------------------------------------


def extend_generator(generator: Any, total: int) -> None:
    """Let a restored SearchGenerator propose up to ``total`` trials (Tune keeps the first
    run's count, ray-project/ray#42221)."""
    if total > private(generator, "_total_samples"):
        set_private(generator, "_total_samples", total)
        set_private(generator, "_finished", False)


def move_generator_storage(generator: Any, root: str, filesystem: Any, name: str) -> None:
    """Give a restored SearchGenerator's new trials the experiment's current storage
    (its saved state holds where the experiment was created)."""
    from ray.train._internal import storage as train_storage

    experiment = private(generator, "_experiment")
    where = experiment.storage
    get_fs_and_path = private(train_storage, "get_fs_and_path")
    where.storage_filesystem, where.storage_fs_path = get_fs_and_path(root, filesystem)
    where.experiment_dir_name = name


def restored_settings(tuner: Any) -> tuple[Any, Any]:
    """A restored Tuner's run and tune configs, to set this run's callbacks, searcher,
    trial count (Tune's restore keeps the first run's)."""
    internal = private(tuner, "_local_tuner")
    return private(internal, "_run_config"), private(internal, "_tune_config")


def optuna_trial(trial: Any) -> Any:
    """The Optuna trial behind what Ray's OptunaSearch hands a define-by-run space (a
    captor of its suggestions), whose params and distributions hpsearch records."""
    if type(trial).__name__ == "_OptunaTrialSuggestCaptor":
        return private(trial, "ot_trial")
    return trial


# Ray's start-up ---------------------------------------------------------------------------------


def keep_ray_on_loopback() -> None:
    """Ray imported before hpsearch set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER has read it;
    the driver looks the flag up at call time, so set it there too (no-op before)."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        set_private(constants, "ENABLE_RAY_CLUSTER", False)


def quiet_job_uploads() -> None:
    """Ray's job SDK logs every package upload at INFO; hpsearch says what matters."""
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
        logging.getLogger(name).setLevel(logging.WARNING)
