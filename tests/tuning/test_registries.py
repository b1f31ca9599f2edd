"""Samplers and schedulers by name: one contract over every registered entry."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Mapping
from typing import Any, get_args

import optuna
import pytest

from hpsearch.config import SamplerName, SchedulerName, SearchConfig
from hpsearch.data import load_builtin
from hpsearch.errors import UserError
from hpsearch.spaces import SPACES, SpaceContext, get_space
from hpsearch.tuning._samplers import SAMPLERS, build_sampler
from hpsearch.tuning._schedulers import SCHEDULERS, build_pruner, stop_epochs
from hpsearch.tuning._space import DefineByRun, space_context, trial_seed
from hpsearch.tuning._tuner import train_settings


def test_cli_choices_match_the_registries() -> None:
    assert tuple(SAMPLERS) == get_args(SamplerName)
    assert tuple(SCHEDULERS) == get_args(SchedulerName)


REGISTRIES: dict[str, Mapping[str, Any]] = {
    "space": SPACES,
    "sampler": SAMPLERS,
    "scheduler": SCHEDULERS,
}


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_registries_share_one_shape(kind: str) -> None:
    for name, entry in REGISTRIES[kind].items():
        assert dataclasses.is_dataclass(entry) and entry.__dataclass_params__.frozen  # type: ignore[attr-defined]
        first = dataclasses.fields(entry)[0]
        assert callable(getattr(entry, first.name)), name
        assert entry.summary and "\n" not in entry.summary and len(entry.summary) <= 90, name


@pytest.mark.parametrize(
    ("kind", "lookup_name"),
    [
        ("space", lambda name: get_space(name)),
        ("sampler", lambda name: build_sampler(name, seed=0, num_samples=4)),
        (
            "scheduler",
            lambda name: build_pruner(SearchConfig().model_copy(update={"scheduler": name})),
        ),
    ],
)
def test_an_unknown_name_is_the_same_error_in_every_registry(
    kind: str, lookup_name: Callable[[str], object]
) -> None:
    with pytest.raises(UserError) as caught:
        lookup_name("nosuch")
    choices = ", ".join(REGISTRIES[kind])
    assert str(caught.value).startswith(f"unknown {kind} 'nosuch' (choose one of: {choices}")


@pytest.fixture(params=list(SAMPLERS))
def sampler_name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_sampler_drives_the_default_space_reproducibly(sampler_name: str) -> None:
    def proposals() -> list[dict]:
        sampler = build_sampler(sampler_name, seed=3, num_samples=12)
        study = optuna.create_study(sampler=sampler, direction="maximize")
        space = DefineByRun("mlp", SpaceContext(), search_seed=3)
        out = []
        for i in range(12):
            trial = study.ask()
            out.append(space(trial))
            study.tell(trial, float(i % 5))
        return out

    first, second = proposals(), proposals()
    assert first == second
    assert len({c["seed"] for c in first}) == 12
    assert [c["trial_number"] for c in first] == list(range(12))


def test_asha_trials_checkpoint_where_asha_may_stop_them() -> None:
    assert stop_epochs(SearchConfig(max_epochs=40, grace_period=4)) == {4, 8, 16, 32}
    assert stop_epochs(SearchConfig(max_epochs=20)) == {4, 8, 16}
    hyperband = SearchConfig(scheduler="hyperband", max_epochs=30, grace_period=1)
    assert stop_epochs(hyperband) == {1, 2, 4, 8, 16}
    assert stop_epochs(SearchConfig(scheduler="median")) == frozenset()
    assert stop_epochs(SearchConfig(scheduler="none")) == frozenset()
    settings = train_settings(SearchConfig(max_epochs=20, checkpoint_every=5), "classification")
    assert [e for e in range(1, 21) if settings.checkpoints_at(e)] == [4, 5, 8, 10, 15, 16, 20]


def test_trial_seeds_derive_from_search_seed_and_trial() -> None:
    assert trial_seed(0, 1) == trial_seed(0, 1)
    assert len({trial_seed(0, n) for n in range(100)}) == 100
    assert trial_seed(0, 1) != trial_seed(1, 1)


def test_the_space_wrapper_pickles_for_tunes_experiment_state() -> None:
    config = SearchConfig(space_options={"lr": [0.001, 0.01]})
    ctx = space_context(config, load_builtin("spirals"))
    wrapper = pickle.loads(pickle.dumps(DefineByRun("mlp", ctx, 5)))
    trial = optuna.create_study().ask()
    assert 0.001 <= wrapper(trial)["lr"] <= 0.01
