"""The final model (the ensemble of the top trials where the search adopted one, else the
best trial), or any one trial's: rebuilt from checkpoints on storage, exported, predicting."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import hpsearch
from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments import Experiment, TrialRecord
from hpsearch.models._predictor import build_predictor, save_predictor
from hpsearch.trainable import build_ensemble, model_from_checkpoint

if TYPE_CHECKING:
    import torch


def model_metadata(exp: Experiment, trial_id: str) -> dict[str, Any]:
    """What the exported archive says about itself (also saved inside it)."""
    trial = exp.trial(trial_id)
    value, epoch = trial.score(exp.metric, exp.mode)
    record = exp.record
    plans = record.get("preprocessing", {}).get("columns", [])
    return {
        "experiment": exp.name,
        "experiment_location": storage.redact(exp.location),
        "trial_id": trial.trial_id,
        "trial_number": trial.number,
        "task": record["task"],
        "target": record.get("preprocessing", {}).get("target"),
        "metric": exp.metric,
        "value": value,
        "epoch": epoch,
        "class_names": record.get("class_names", []),
        "numeric_columns": [p["name"] for p in plans if p["kind"] == "numeric"],
        "categorical_columns": [p["name"] for p in plans if p["kind"] != "numeric"],
        "features": record.get("features", []),
        "preprocessing": record.get("preprocessing", {}),
        "params": trial.params,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hpsearch_version": hpsearch.__version__,
    }


def chosen_trial(exp: Experiment, number: int | None = None) -> TrialRecord:
    """The best trial, or trial ``number``; refused in one line if it left no checkpoint."""
    if number is None:
        trial = exp.best_trial()
        if trial is None or not trial.checkpoint:
            raise UserError(
                f"experiment {exp.name!r} has no checkpointed trial yet",
                "wait until a trial reaches its first checkpoint",
            )
        return trial
    found = [t for t in exp.trials if t.number == number]
    if not found:
        numbers = [t.number for t in exp.trials]
        range_ = f"{min(numbers)} to {max(numbers)}" if numbers else "none yet"
        raise UserError(
            f"experiment {exp.name!r} has no trial {number}",
            f"its trials are numbered {range_} (`hpsearch trials {exp.name}` lists them)",
        )
    if not found[0].checkpoint:
        raise UserError(
            f"trial {number} of experiment {exp.name!r} left no checkpoint",
            "it ended before its first one; `hpsearch trials` shows the others",
        )
    return found[0]


def _recorded(exp: Experiment) -> dict[str, Any]:
    """The search record, refused in one line if it lacks the preprocessing to replay."""
    record = exp.record
    if not record.get("preprocessing", {}).get("columns"):
        raise UserError(
            f"experiment {exp.name!r} was recorded without its preprocessing",
            "rerun the search with this version of hpsearch",
        )
    return record


def _restored(exp: Experiment, trial: TrialRecord) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trial's best checkpointed weights in a fresh model, and the checkpoint's state."""
    # The trial's newest checkpoint as storage has it (the summary names the
    # same one, by the path the driver saw): it holds the best weights so far.
    checkpoint = trial.checkpoint
    assert checkpoint is not None  # chosen_trial refuses one without
    record = exp.record
    num_outputs = len(record.get("class_names", [])) if record["task"] == "classification" else 1
    with storage.local_copy(checkpoint) as directory:
        return model_from_checkpoint(directory, len(record["features"]), num_outputs)


def best_predictor(
    exp: Experiment, number: int | None = None
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The best trial's (or trial ``number``'s) best checkpointed weights, with the
    preprocessing, as TorchScript."""
    record = _recorded(exp)
    trial = chosen_trial(exp, number)
    mlp, state = _restored(exp, trial)
    metadata = model_metadata(exp, trial.trial_id)
    metadata["evaluated_epoch"] = int(state["best"]["epoch"] or state["epoch"])
    metadata["checkpoint"] = storage.redact(str(trial.checkpoint))
    return build_predictor(mlp, record, tuple(state["target_scale"])), metadata


def adopted_ensemble(exp: Experiment) -> dict[str, Any] | None:
    """The ensemble summary.json names the final model, or ``None`` (the best trial is)."""
    summary = exp.summary or {}
    ensemble = summary.get("ensemble")
    return ensemble if summary.get("final") == "ensemble" and ensemble else None


def ensemble_predictor(
    exp: Experiment, ensemble: dict[str, Any]
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The summary's ensemble (its members' best checkpointed weights, averaged with
    its weights) with the preprocessing, as one TorchScript module."""
    record = _recorded(exp)
    members, weights, checkpoints, params = [], [], {}, {}
    scales: set[tuple[float, float]] = set()
    for member in ensemble["members"]:
        trial = chosen_trial(exp, int(member["number"]))
        mlp, state = _restored(exp, trial)
        members.append(mlp)
        weights.append(float(member["weight"]))
        mean, std = state["target_scale"]
        scales.add((float(mean), float(std)))
        checkpoints[str(trial.number)] = storage.redact(str(trial.checkpoint))
        params[str(trial.number)] = trial.params
    if len(scales) != 1:
        raise UserError(
            f"the ensemble of experiment {exp.name!r} mixes trials of different target scales",
            "export one trial with --trial N",
        )
    best = (exp.summary or {}).get("best") or {}
    metadata = model_metadata(exp, str(best.get("trial_id") or ensemble["members"][0]["trial_id"]))
    metadata |= {
        # The final model is no single trial: these say so rather than name one.
        "trial_id": None,
        "trial_number": None,
        # On the check half: the whole validation split holds the half it was picked on.
        "value": (ensemble.get("check") or {}).get("ensemble", {}).get(exp.metric),
        "value_on": "the check half of validation",
        "epoch": None,
        "params": {},
        "final": "ensemble",
        "ensemble": {
            "members": {str(m["number"]): m["weight"] for m in ensemble["members"]},
            "picks": ensemble["picks"],
            "checkpoints": checkpoints,
            "params": params,
            "val": ensemble.get("val"),
            "test": ensemble.get("test"),
            "reason": ensemble.get("reason"),
        },
    }
    module = build_ensemble(members, weights, record["task"])
    return build_predictor(module, record, scales.pop()), metadata


def final_predictor(
    exp: Experiment, number: int | None = None
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The final model as TorchScript: trial ``number``'s when given; else the ensemble
    where the search adopted one (summary.json's ``final``), else the best trial's."""
    ensemble = adopted_ensemble(exp) if number is None else None
    if ensemble is not None:
        return ensemble_predictor(exp, ensemble)
    return best_predictor(exp, number)


def export_model(exp: Experiment, path: str, trial: int | None = None) -> dict[str, Any]:
    """Write the final model (the adopted ensemble, else the best trial; or trial
    number ``trial``'s) to ``path`` as a TorchScript archive; returns its metadata."""
    model, metadata = final_predictor(exp, trial)
    with storage.atomic_path(path) as tmp:
        save_predictor(model, tmp, storage.redact_data(metadata))
    return metadata
