"""The search space as the searcher calls it: the space's config, checked against
the contract, plus the trial's seed and Optuna's record of what it drew.

No Ray here: the driver probes the space with the data's context before Ray starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import optuna

from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.experiments import OPTUNA_KEY
from hpsearch.spaces import SpaceContext, call_space, get_space, probe_space


def trial_seed(search_seed: int, trial_number: int) -> int:
    """A trial's seed from the search seed and the trial's number in the study."""
    digest = hashlib.sha256(f"{search_seed}/{trial_number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass(frozen=True)
class DefineByRun:
    """A space, ready for OptunaSearch: the space's config plus the trial's seed.

    Holds the space by name, not as a function, because Tune pickles the
    searcher into the experiment state (for resuming) and a name always
    pickles. Optuna numbers trials in the order it is asked, so the same
    search seed and sampler give every trial the same seed on a rerun.
    Every config is checked against the space contract (``spaces.Space``):
    a key the trainable would ignore stops the search instead.
    """

    space: str
    context: SpaceContext
    search_seed: int

    def probe(self) -> DefineByRun:
        """Check the space on probe trials with the real data's context, before any trial."""
        probe_space(self.space, [self.context])
        return self

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        config = call_space(get_space(self.space), self.space, trial, self.context)
        # The study's trial number names the trial everywhere (Tune's ids are random).
        config["trial_number"] = trial.number
        config["seed"] = trial_seed(self.search_seed, trial.number)
        # Optuna's own view of the trial (raw suggestions and their ranges), so
        # a study can be rebuilt from storage alone: reports, warm starts.
        config[OPTUNA_KEY] = {
            "params": dict(trial.params),
            "distributions": {
                name: optuna.distributions.distribution_to_json(d)
                for name, d in trial.distributions.items()
            },
        }
        return config


def space_context(config: SearchConfig, data: TabularData) -> SpaceContext:
    """What the space may know of the data it searches for."""
    return SpaceContext(
        task=data.task,
        num_features=data.num_features,
        num_numeric=data.num_numeric,
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        options=config.space_options,
    )
