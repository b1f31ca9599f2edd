"""One contract over every registered space: real Optuna study, configs that train."""

from __future__ import annotations

import optuna
import pytest
import torch

from hpsearch.data import load_builtin
from hpsearch.spaces import SPACES, SpaceContext, get_space
from hpsearch.trainable import HParams, TrainingRun, TrainSettings

DATA = {"classification": load_builtin("rings"), "regression": load_builtin("friedman")}


@pytest.fixture(params=list(SPACES))
def space_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=["classification", "regression"])
def task(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_sampled_config_builds_a_model_that_trains_one_step(
    space_name: str, task: str
) -> None:
    data = DATA[task]
    ctx = SpaceContext(task=task, num_features=data.num_features, num_classes=data.num_classes)  # type: ignore[arg-type]
    space = get_space(space_name)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    metric = "val_accuracy" if task == "classification" else "val_rmse"
    for _ in range(12):
        trial = study.ask()
        config = space(trial, ctx)
        hp = HParams.from_config(config)
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
        assert len(config["hidden_sizes"]) == config.get(
            "hidden_layers", len(config["hidden_sizes"])
        )
        assert all(f"width_{i + 1}" in params for i in range(len(config["hidden_sizes"])))
        assert f"width_{len(config['hidden_sizes']) + 1}" not in params
        aug = config["augmentation"]
        strength_params = [p for p in params if p.endswith("_strength")]
        assert strength_params == ([] if aug == "none" else [f"{aug}_strength"])
        study.tell(trial, 0.0)
    assert seen_sgd and seen_other


def test_losses_follow_the_task() -> None:
    def losses(task: str) -> set[str]:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
        return {get_space("mlp")(study.ask(), SpaceContext(task=task))["loss"] for _ in range(40)}  # type: ignore[arg-type]

    cls, reg = losses("classification"), losses("regression")
    assert cls == {"cross_entropy", "label_smoothing"}
    assert reg == {"mse", "huber"}
