"""The best trial's model: rebuilt from its checkpoint on storage, exported, and predicting."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import hpsearch
from hpsearch import storage
from hpsearch.errors import UserError
from hpsearch.experiments import Experiment, TrialRecord
from hpsearch.models._predictor import build_predictor, save_predictor
from hpsearch.trainable import model_from_checkpoint

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


def best_predictor(
    exp: Experiment, number: int | None = None
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """The best trial's (or trial ``number``'s) best checkpointed weights, with the
    preprocessing, as TorchScript."""
    trial = chosen_trial(exp, number)
    # The trial's newest checkpoint as storage has it (the summary names the
    # same one, by the path the driver saw): it holds the best weights so far.
    checkpoint = trial.checkpoint
    assert checkpoint is not None  # chosen_trial refuses one without
    record = exp.record
    if not record.get("preprocessing", {}).get("columns"):
        raise UserError(
            f"experiment {exp.name!r} was recorded without its preprocessing",
            "rerun the search with this version of hpsearch",
        )
    num_outputs = len(record.get("class_names", [])) if record["task"] == "classification" else 1
    with storage.local_copy(checkpoint) as directory:
        mlp, state = model_from_checkpoint(directory, len(record["features"]), num_outputs)
    metadata = model_metadata(exp, trial.trial_id)
    metadata["evaluated_epoch"] = int(state["best"]["epoch"] or state["epoch"])
    metadata["checkpoint"] = storage.redact(checkpoint)
    return build_predictor(mlp, record, tuple(state["target_scale"])), metadata


def export_model(exp: Experiment, path: str, trial: int | None = None) -> dict[str, Any]:
    """Write the best model (or trial number ``trial``'s) to ``path`` as a TorchScript
    archive; returns its metadata."""
    model, metadata = best_predictor(exp, trial)
    with storage.atomic_path(path) as tmp:
        save_predictor(model, tmp, storage.redact_data(metadata))
    return metadata
