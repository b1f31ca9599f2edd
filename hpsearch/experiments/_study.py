"""The experiment as an Optuna study: what the report charts and a warm start replays.

The study is rebuilt in memory from what each trial recorded (Optuna's raw
params and distributions, its per-epoch metric): plain JSON, nothing unpickled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from hpsearch.experiments._experiment import Experiment

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


def build_study(exp: Experiment) -> optuna.Study:
    """An in-memory Optuna study holding the experiment's trials, as the sampler saw them."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=exp.name, direction="maximize" if exp.mode == "max" else "minimize"
    )
    for trial in exp.trials:
        if not trial.optuna:
            continue
        value, _ = trial.score(exp.metric, exp.mode)
        state = getattr(optuna.trial.TrialState, _STUDY_STATE[trial.state])
        if state == optuna.trial.TrialState.COMPLETE and value is None:
            state = optuna.trial.TrialState.FAIL
        curve = {
            int(row["epoch"]): float(row[exp.metric])
            for row in trial.history
            if isinstance(row.get(exp.metric), int | float) and row[exp.metric] == row[exp.metric]
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.optuna["params"],
                distributions={
                    name: optuna.distributions.json_to_distribution(text)
                    for name, text in trial.optuna["distributions"].items()
                },
                value=value if state == optuna.trial.TrialState.COMPLETE else None,
                state=state,
                intermediate_values=curve,
                user_attrs={"trial_id": trial.trial_id, "hpsearch_state": trial.state},
            )
        )
    return study
