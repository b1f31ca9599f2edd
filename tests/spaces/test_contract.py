"""The space contract over every registered space, sampler and scheduler.

In the spirit of Optuna's sampler test suite: the registries feed one
parametrized contract, so a new space, sampler or scheduler is covered by
registering it. In-memory studies only: no Ray starts.
"""

from __future__ import annotations

import fnmatch
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import optuna
import pytest
import torch

from hpsearch.config import SearchConfig
from hpsearch.data import TabularData, load_builtin
from hpsearch.experiments import OPTUNA_KEY
from hpsearch.spaces import LOSSES, SPACE_KEYS, SPACES, SpaceContext, check_config, get_space
from hpsearch.trainable import (
    ACTIVATIONS,
    HParams,
    TrainingRun,
    TrainSettings,
    build_augmentation,
    build_loss,
    build_mlp,
    build_optimizer,
)
from hpsearch.tuning._samplers import SAMPLERS, build_sampler
from hpsearch.tuning._schedulers import SCHEDULERS, build_pruner, stop_epochs
from hpsearch.tuning._space import DefineByRun, space_context

#: One built-in dataset per task; everything else is parametrized from the registries.
DATASETS = {"classification": "rings", "regression": "friedman"}
DATA: dict[str, TabularData] = {task: load_builtin(name) for task, name in DATASETS.items()}
TRIALS = 6

#: A conditional hyperparameter is absent (or zero) wherever it does not apply.
APPLIES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "momentum": lambda c: c.get("optimizer") == "sgd",
    "nesterov": lambda c: c.get("optimizer") == "sgd",
    "augmentation_strength": lambda c: c.get("augmentation", "none") != "none",
    "loss_param": lambda c: c.get("loss") in ("label_smoothing", "huber"),
}


@pytest.fixture(params=list(DATASETS))
def task(request: pytest.FixtureRequest) -> str:
    return request.param


def search_config(task: str, **fields: object) -> SearchConfig:
    defaults: dict[str, object] = {
        "dataset": DATASETS[task],
        "num_samples": TRIALS,
        "max_epochs": 8,
    }
    return SearchConfig.model_validate({**defaults, **fields})


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("space", list(SPACES))
def test_every_space_sampler_and_scheduler_keep_the_contract(
    space: str, sampler: str, scheduler: str, task: str
) -> None:
    config = search_config(task, space=space, sampler=sampler, scheduler=scheduler)
    pruner = build_pruner(config)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    assert all(0 < epoch < config.max_epochs for epoch in stop_epochs(config))
    study = optuna.create_study(sampler=build_sampler(sampler, config.seed, TRIALS), pruner=pruner)
    define = DefineByRun(space, space_context(config, DATA[task]), config.seed)
    for number in range(TRIALS):
        trial = study.ask()
        returned = define(trial)
        # hpsearch's own keys besides the hyperparameters, and nothing else.
        assert set(returned) - set(SPACE_KEYS) == {"trial_number", "seed", OPTUNA_KEY}
        hparams = {k: v for k, v in returned.items() if k in SPACE_KEYS}
        # What the contract passed on is what the sampler drew, unrounded, as plain data.
        drawn = {k: v for k, v in trial.params.items() if k in hparams}
        assert drawn and {k: hparams[k] for k in drawn} == drawn
        assert all(type(hparams[k]) is type(v) for k, v in drawn.items()), (drawn, hparams)
        assert json.loads(json.dumps(hparams)) == hparams
        assert returned[OPTUNA_KEY]["params"] == trial.params
        for key, applies in APPLIES.items():
            assert applies(returned) or not returned.get(key), (key, returned)
        trial.report(float(number % 3), 1)
        trial.should_prune()  # the pruner runs on every sampler's trials
        study.tell(trial, float(number % 3))
    assert len(study.trials) == TRIALS


#: Earlier trials in the pruning study: enough for every HyperBand bracket to hold some.
EARLIER = 12


def _run_trial(study: optuna.Study, score: Callable[[int], float], epochs: int) -> int | None:
    """One trial as the scheduler drives it: each epoch reported, then the pruner asked.
    The epoch it was pruned at, else None (it ran out and completed)."""
    trial = study.ask()
    for epoch in range(1, epochs + 1):
        trial.report(score(epoch), epoch)
        if epoch < epochs and trial.should_prune():  # the last epoch is never pruned
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return epoch
    study.tell(trial, score(epochs))
    return None


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_every_scheduler_prunes_a_laggard_and_spares_the_leader(scheduler: str, task: str) -> None:
    config = search_config(task, scheduler=scheduler, max_epochs=20)
    grace, maximize = config.resolved_grace_period(), config.resolved_mode(task) == "max"
    assert grace == 4  # the default for 20 epochs: pruning may not start at once
    study = optuna.create_study(
        # HyperBand's bracket for a trial follows from the study's name: fixed, not drawn.
        study_name="contract",
        direction="maximize" if maximize else "minimize",
        pruner=build_pruner(config),
    )
    sign = 1.0 if maximize else -1.0  # better is higher, or lower

    def earlier(n: int) -> Callable[[int], float]:
        """Each earlier trial a little better than the one before, improving by the epoch."""
        return lambda epoch: sign * (0.5 + 0.02 * n + 0.001 * epoch)

    for n in range(EARLIER):
        assert _run_trial(study, earlier(n), 20) is None
    laggard = _run_trial(study, lambda e: sign * (0.01 + 0.001 * e), 20)
    leader = _run_trial(study, lambda e: sign * (0.9 + 0.001 * e), 20)
    assert leader is None, "the best trial at every epoch was stopped"
    if scheduler == "none":
        assert laggard is None
        return
    assert laggard is not None, "a trial far behind every other at every epoch ran out"
    assert grace <= laggard < config.max_epochs, "stopped before its grace period"
    # Halving decides at its rungs only, where trials checkpoint: a stopped trial keeps its weights.
    assert scheduler not in ("asha", "hyperband") or laggard in stop_epochs(config)


@pytest.mark.parametrize("space", list(SPACES))
def test_every_sampled_config_builds_a_model_that_trains_one_step(space: str, task: str) -> None:
    data = DATA[task]
    define = DefineByRun(space, SpaceContext(task=task, num_features=data.num_features), 0)  # type: ignore[arg-type]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    metric = "val_accuracy" if task == "classification" else "val_rmse"
    for _ in range(12):
        trial = study.ask()
        hp = HParams.from_config(define(trial))
        run = TrainingRun(hp, data, TrainSettings(max_epochs=1, metric=metric, mode="max"))
        before = [p.detach().clone() for p in run.model.parameters()]
        # One optimizer step on one batch.
        x, y = run.x_train[: hp.batch_size], run.y_train[: hp.batch_size]
        loss = run.loss_fn(run.model(x), y)
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
        assert torch.isfinite(loss)
        assert any(
            not torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True)
        )
        study.tell(trial, float(loss.detach()))
    assert len(study.trials) == 12


def test_mlp_conditional_parameters_exist_only_where_they_apply() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_sgd = seen_other = False
    depths = set()
    for _ in range(80):
        trial = study.ask()
        config = get_space("mlp")(trial, SpaceContext())
        params = trial.params
        if config["optimizer"] == "sgd":
            seen_sgd = True
            assert "momentum" in params and "nesterov" in params
        else:
            seen_other = True
            assert "momentum" not in params and "nesterov" not in params
        # One width per layer: the depth Optuna drew, widths 1..depth and no more.
        depth = params["hidden_layers"]
        depths.add(depth)
        assert len(config["hidden_sizes"]) == depth
        assert config["hidden_sizes"] == [params[f"width_{i + 1}"] for i in range(depth)]
        assert f"width_{depth + 1}" not in params
        aug = config["augmentation"]
        strength_params = [p for p in params if p.endswith("_strength")]
        assert strength_params == ([] if aug == "none" else [f"{aug}_strength"])
        study.tell(trial, 0.0)
    assert seen_sgd and seen_other
    assert depths == {1, 2, 3, 4}


def test_losses_follow_the_task() -> None:
    def losses(task: str) -> set[str]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
        return {get_space("mlp")(study.ask(), SpaceContext(task=task))["loss"] for _ in range(40)}  # type: ignore[arg-type]

    cls, reg = losses("classification"), losses("regression")
    assert cls == {"cross_entropy", "label_smoothing"}
    assert reg == {"mse", "huber"}


# The key list lives in hpsearch.spaces (no torch there); the trainable must match it.

_KINDS = {"float": float, "int": int, "bool": bool, "widths": tuple[int, ...]}


def test_the_trainables_hparams_are_the_space_keys_plus_the_seed() -> None:
    assert [f.name for f in fields(HParams)] == [*SPACE_KEYS, "seed"]
    hints = typing.get_type_hints(HParams)
    for key, spec in SPACE_KEYS.items():
        expected = _KINDS.get(spec.kind, str)
        assert hints[key] in (expected, expected | None), (key, hints[key], spec.kind)


def test_the_trainables_defaults_keep_the_contract() -> None:
    defaults = {f.name: getattr(HParams(), f.name) for f in fields(HParams) if f.name != "seed"}
    checked = check_config("defaults", defaults, SpaceContext())
    # Widths come back as a list, the form JSON and the built-in spaces use.
    assert checked == {**defaults, "hidden_sizes": list(HParams().hidden_sizes)}
    assert HParams.from_config(checked) == HParams()


def test_every_allowed_choice_builds_in_the_trainable() -> None:
    assert tuple(ACTIVATIONS) == SPACE_KEYS["activation"].choices
    model = build_mlp(3, 2, HParams())
    for optimizer in SPACE_KEYS["optimizer"].choices:
        assert build_optimizer(model, HParams(optimizer=optimizer)) is not None
    assert sorted(sum(LOSSES.values(), ())) == sorted(SPACE_KEYS["loss"].choices)
    for task, losses in LOSSES.items():
        for loss in losses:
            assert build_loss(HParams(loss=loss), task) is not None
    for augmentation in SPACE_KEYS["augmentation"].choices:
        hp = HParams(augmentation=augmentation, augmentation_strength=0.1)
        assert build_augmentation(hp, (1, 4, 4)) is not None


def test_what_a_pack_shares_is_one_list_in_every_layer() -> None:
    from hpsearch import experiments, spaces, trainable

    assert spaces.PACK_SHARED == trainable.PACK_SHARED
    assert set(trainable.PACK_SHARED) <= set(SPACE_KEYS)
    names = ("MEMBER_PREFIX", "PACK_FILE", "PACK_KEY")
    assert [getattr(trainable, n) for n in names] == [getattr(experiments, n) for n in names]


@pytest.mark.parametrize("name", [n for n, e in SPACES.items() if e.shared])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_registered_spaces_shared_parameters_fix_the_pack_structure(name: str, task: str) -> None:
    """Draws with the first draw's shared parameters fixed always share its structure."""
    context = SpaceContext(task=task, num_features=12, num_numeric=6, num_classes=3)
    fn = get_space(name)
    sampler = optuna.samplers.RandomSampler(seed=1)
    for _ in range(8):
        study = optuna.create_study(sampler=sampler)
        first = study.ask()
        shape = HParams.from_config(fn(first, context)).structure()
        shared = SPACES[name].shared
        fixed = {
            k: v for k, v in first.params.items() if any(fnmatch.fnmatchcase(k, p) for p in shared)
        }
        study.sampler = optuna.samplers.PartialFixedSampler(fixed, sampler)
        for _ in range(4):
            assert HParams.from_config(fn(study.ask(), context)).structure() == shape
