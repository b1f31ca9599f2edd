"""The factory lays out what a real search writes: the same files, keys and value types."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factory import FakeTrial, make_experiment
from tests.searches import FinishedExperiment

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Not compared: the config is SearchConfig.to_json() in both; the columns are the data's.
_SKIP = {"config", "preprocessing.columns"}
# The files hpsearch writes or reads in an experiment and in a trial (Tune writes more).
_EXPERIMENT_FILES = {"hpsearch.json", "status.json", "summary.json"}
_TRIAL_FILES = {"params.json", "result.json", "error.txt", "checkpoint_*"}


def key_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every key in a JSON value as a dotted path; ``[]`` for the items of a list."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}{key}"
            if path not in _SKIP:
                yield path
                yield from key_paths(item, path + ".")
    elif isinstance(value, list):
        for item in value:
            yield from key_paths(item, prefix.rstrip(".") + "[].")


def json_type(value: Any) -> str:
    """``null``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict``."""
    return "null" if value is None else type(value).__name__


def typed_paths(value: Any, path: str = "") -> Iterator[str]:
    """Every value in a JSON value as ``path: type`` (``[]`` for the items of a list),
    so a value that changes type (a float written as a string, a list as null) shows."""
    if path:
        yield f"{path}: {json_type(value)}"
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if sub not in _SKIP:
                yield from typed_paths(item, sub)
    elif isinstance(value, list):
        for item in value:
            yield from typed_paths(item, f"{path}[]")


def _json_keys(path: Path) -> set[str]:
    return set(key_paths(json.loads(path.read_text())))


def _json_types(path: Path) -> set[str]:
    return set(typed_paths(json.loads(path.read_text())))


def _trial_files(trial: Path) -> set[str]:
    return {re.sub(r"^checkpoint_\d{6}$", "checkpoint_*", p.name) for p in trial.iterdir()}


def _layout(experiment: Path) -> dict[str, Any]:
    """The shapes a search leaves: file names, the keys of each JSON file and result line."""
    trials = sorted(experiment.glob("trial_*"))
    lines = [json.loads(x) for t in trials for x in (t / "result.json").read_text().splitlines()]
    checkpoints = sorted(experiment.glob("trial_*/checkpoint_*"))
    return {
        "experiment files": {p.name for p in experiment.iterdir()} & _EXPERIMENT_FILES,
        "trial files": set().union(*map(_trial_files, trials)) & _TRIAL_FILES,
        "checkpoint files": {p.name for c in checkpoints for p in c.iterdir()},
        **{name: _json_keys(experiment / name) for name in sorted(_EXPERIMENT_FILES)},
        "params.json": set().union(*(_json_keys(t / "params.json") for t in trials)),
        "result.json": set().union(*(key_paths(line) for line in lines)),
        **{f"{name} types": _json_types(experiment / name) for name in sorted(_EXPERIMENT_FILES)},
        "params.json types": set().union(*(_json_types(t / "params.json") for t in trials)),
        "result.json types": set().union(*(typed_paths(line) for line in lines)),
        # A line without a checkpoint has no should_checkpoint, one with it has.
        "checkpoint lines": {
            (line["checkpoint_dir_name"] is None, "should_checkpoint" in line) for line in lines
        },
    }


def test_the_factory_writes_what_a_real_finished_search_wrote(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    real = _layout(finished_experiment.root / finished_experiment.name)
    # As many epochs and checkpoints as the real search: some lines with, some without.
    trials = [FakeTrial("completed"), FakeTrial("stopped", epochs=3), FakeTrial("completed")]
    fake = make_experiment(tmp_path, "fake", trials=trials, max_epochs=8, checkpoint_every=5)
    made = _layout(fake.path)
    for what in real:
        assert made[what] == real[what], (
            f"{what}: only the real search wrote {sorted(real[what] - made[what])}, "
            f"only the factory {sorted(made[what] - real[what])}"
        )
