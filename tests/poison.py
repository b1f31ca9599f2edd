"""Files an attacker could plant in an experiment: every file Ray Tune or Optuna could
unpickle, replaced by a payload that writes a marker file when unpickled."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

# A stamp as Tune writes it, and one that sorts after every real one (Tune takes the
# newest experiment state by its name).
STAMP, LAST = "2026-01-01_00-00-00", "9999-99-99_99-99-99"

#: The files of an experiment folder Tune may unpickle (or load with cloudpickle
#: allowed), each planted under both stamps besides the ones the search wrote.
TUNE_FILES = (
    "searcher-state-{}.pkl",
    "search_gen_state-{}.json",
    "basic-variant-state-{}.json",
    "callback-states-{}.pkl",
)


class Payload:
    """Unpickled, it writes ``marker``: what an attacker's file would run instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path, str]]:
        return Path.write_text, (self.marker, "unpickled")


def _state(payload: bytes) -> str:
    """An experiment state as Tune writes it, every object a cloudpickle fallback."""
    blob = {"_type": "CLOUDPICKLE_FALLBACK", "value": payload.hex()}
    trial = json.dumps({"trial_id": "0", "storage": blob, "config": blob})
    return json.dumps(
        {"trial_data": [[trial, json.dumps(blob)]], "runner_data": blob, "stats": blob}
    )


def poison(experiment: Path, marker: Path) -> list[Path]:
    """Replace every file Tune or Optuna could unpickle, and plant the ones it looks
    for; the files written."""
    payload = pickle.dumps(Payload(marker))
    written = [experiment / "tuner.pkl"]
    names = [f.format(s) for f in TUNE_FILES for s in (STAMP, LAST)]
    names += [p.name for p in experiment.glob("searcher-state-*.pkl")]
    names += [p.name for p in experiment.glob("search_gen_state-*.json")]
    names += [p.name for p in experiment.glob("basic-variant-state-*.json")]
    names += [p.name for p in experiment.glob("callback-states-*.pkl")]
    written += [experiment / n for n in sorted(set(names))]
    for trial in experiment.glob("trial_*"):
        written += [trial / "params.pkl", trial / "error.pkl"]
    for path in written:
        path.write_bytes(payload)
    states = {p.name for p in experiment.glob("experiment_state-*.json")}
    states |= {f"experiment_state-{STAMP}.json", f"experiment_state-{LAST}.json"}
    for name in states:
        (experiment / name).write_text(_state(payload))
        written.append(experiment / name)
    return written


def payload_runs_when_tune_reads(experiment: Path, marker: Path) -> bool:
    """Whether Tune's own reader of an experiment runs the planted payload (it must: the
    planted files are live, so a resume that left them unread proves something)."""
    import contextlib

    from ray.tune import ExperimentAnalysis

    with contextlib.suppress(Exception):  # whatever Tune makes of the payload's result
        ExperimentAnalysis(str(experiment))
    return marker.exists() and marker.read_text() == "unpickled"
