"""The ``mlp`` space's starting point: the configuration a default search tries first."""

from __future__ import annotations

import optuna
import pytest

from hpsearch.spaces import SpaceContext, call_space, mlp, starting_point


def first_config(context: SpaceContext) -> dict:
    """The config the space returns for a trial that holds the starting point."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(starting_point("mlp", context))
    return dict(call_space(mlp, "mlp", study.ask(), context, True))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_start_is_a_strong_default_the_space_returns_as_is(task: str) -> None:
    config = first_config(SpaceContext(task=task))  # type: ignore[arg-type]
    assert config["optimizer"] == "adamw"
    assert config["hidden_sizes"] == [256, 256, 256]
    assert config["embedding"] == "periodic" and config["embedding_scale"] == 0.1
    assert config["batch_size"] == 128 and config["augmentation"] == "none"
    if task == "classification":
        assert (config["loss"], config["loss_param"]) == ("label_smoothing", 0.1)
        assert (config["lr_schedule"], config["dropout"]) == ("cosine", 0.15)
    else:
        assert (config["loss"], config["lr_schedule"], config["dropout"]) == (
            "mse",
            "constant",
            0.0,
        )


def test_what_the_options_rule_out_is_left_to_the_sampler() -> None:
    options = {"optimizers": ["sgd", "adam"], "width": [8, 64], "embeddings": ["none"]}
    context = SpaceContext(options=options)
    start = starting_point("mlp", context)
    assert not {"optimizer", "width_1", "embedding", "embedding_scale"} & set(start)
    assert start["hidden_layers"] == 3 and start["lr"] == 2e-3
    config = first_config(context)  # drawn within the options, the rest as started
    assert config["optimizer"] in ("sgd", "adam")
    assert all(8 <= w <= 64 for w in config["hidden_sizes"]) and len(config["hidden_sizes"]) == 3
    assert "embedding" not in config


def test_image_data_starts_without_embeddings() -> None:
    start = starting_point("mlp", SpaceContext(input_shape=(8, 8)))
    assert "embedding" not in start and "embedding_scale" not in start
    assert "embedding" not in first_config(SpaceContext(input_shape=(8, 8)))


def test_only_the_registered_mlp_space_has_a_start() -> None:
    assert starting_point("quick", SpaceContext()) == {}
    assert starting_point("mypkg.spaces:wide", SpaceContext()) == {}


def embeddings_drawn(context: SpaceContext) -> set[str]:
    """The embeddings 40 random draws of the space return."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    return {mlp(study.ask(), context).get("embedding", "none") for _ in range(40)}


def test_embeddings_need_numeric_columns_and_not_too_many() -> None:
    # Only categorical columns: nothing to embed, so neither searched nor started.
    categories_only = SpaceContext(num_features=12, num_numeric=0)
    assert "embedding" not in starting_point("mlp", categories_only)
    assert "embedding" not in first_config(categories_only)
    assert embeddings_drawn(categories_only) == {"none"}
    # A wide table is searched with them but starts without (16 inputs per column).
    wide = SpaceContext(num_features=100, num_numeric=100)
    start = starting_point("mlp", wide)
    assert start["embedding"] == "none" and "embedding_scale" not in start
    assert embeddings_drawn(wide) == {"none", "periodic"}
    # Past 256 numeric columns they are not offered at all.
    assert embeddings_drawn(SpaceContext(num_features=300, num_numeric=300)) == {"none"}
