"""Nothing of an experiment is ever unpickled: resume and extend run on experiments whose
every file that Tune or Optuna could unpickle is a payload that writes a marker."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest

from hpsearch.experiments import STUDY_FILE, load_experiment
from tests.searches import HPSEARCH, KILLED_TRIALS, KilledSearch

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


def hpsearch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HPSEARCH_STORAGE": str(root)}
    return subprocess.run([*HPSEARCH, *args], env=env, capture_output=True, text=True)


def _refused(run: subprocess.CompletedProcess[str], why: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr[-3000:]
    assert lines[0].startswith("hpsearch: error: ") and why in lines[0]


@pytest.mark.ray
@pytest.mark.slow
def test_resume_and_extend_never_unpickle_the_experiment(
    killed_search: KilledSearch, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    # The payload works: unpickling it writes its marker.
    pickle.loads(pickle.dumps(Payload(tmp_path / "canary")))
    assert (tmp_path / "canary").read_text() == "unpickled"
    root = tmp_path / "results"
    experiment = root / "k"
    shutil.copytree(killed_search.location, experiment)

    # A killed experiment resumes to the end.
    planted = poison(experiment, marker)
    trials = set(experiment.glob("trial_*"))
    assert trials and {p.parent for p in planted if p.name == "params.pkl"} == trials
    resumed = hpsearch(root, "resume", "k", "--quiet")
    assert not marker.exists(), resumed.stderr[-3000:]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_experiment(str(experiment)).done == KILLED_TRIALS

    # Finished, with the files this run wrote poisoned too: it grows by a trial, or
    # refuses in one line when asked for nothing more.
    poison(experiment, marker)
    _refused(hpsearch(root, "resume", "k"), f"finished all {KILLED_TRIALS} trials")
    grown = hpsearch(root, "resume", "k", "--num-samples", str(KILLED_TRIALS + 1), "--quiet")
    assert not marker.exists(), grown.stderr[-3000:]
    assert grown.returncode == 0, grown.stderr[-3000:]
    assert load_experiment(str(experiment)).done == KILLED_TRIALS + 1

    # Without its study, only Tune's pickles would be left to resume from: refused.
    poison(experiment, marker)
    (experiment / STUDY_FILE).unlink()
    _refused(hpsearch(root, "resume", "k", "--num-samples", "20"), "written before")
    assert not marker.exists()

    # The planted files are live: Tune's own reader of an experiment runs the payload.
    from ray.tune import ExperimentAnalysis

    with contextlib.suppress(Exception):  # whatever Tune makes of the payload's result
        ExperimentAnalysis(str(experiment))
    assert marker.read_text() == "unpickled"
