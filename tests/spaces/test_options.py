"""Narrowing the default space from the config file, and its mistakes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from hpsearch.errors import UserError
from hpsearch.spaces import SpaceContext, describe_space, get_space, validate_space_options


def sample(options: dict, n: int = 60) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    ctx = SpaceContext(options=validate_space_options("mlp", options))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(get_space("mlp")(trial, ctx))
        study.tell(trial, 0.0)
    return out


def test_narrowed_ranges_and_choices_are_respected() -> None:
    configs = sample(
        {
            "optimizers": ["adam", "sgd"],
            "lr": [0.001, 0.01],
            "hidden_layers": [2, 3],
            "width": [16, 32],
            "batch_sizes": [128],
            "augmentations": ["none", "mixup"],
        }
    )
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"}
    assert all(0.001 <= c["lr"] <= 0.01 for c in configs)
    assert {len(c["hidden_sizes"]) for c in configs} == {2, 3}
    assert all(16 <= w <= 32 for c in configs for w in c["hidden_sizes"])
    assert {c["batch_size"] for c in configs} == {128}
    assert {c["augmentation"] for c in configs} <= {"none", "mixup"}


def test_a_single_value_range_becomes_a_constant_not_a_parameter() -> None:
    study = optuna.create_study()
    trial = study.ask()
    ctx = SpaceContext(
        options=validate_space_options("mlp", {"lr": [0.01, 0.01], "batch_sizes": [64]})
    )
    config = get_space("mlp")(trial, ctx)
    assert config["lr"] == 0.01 and config["batch_size"] == 64
    assert "lr" not in trial.params and "batch_size" not in trial.params


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"optimizers": ["sgd", "lion"]}, r"space_options.optimizers: 'lion' is not allowed"),
        ({"lr": [0.1, 0.001]}, r"lr range is reversed"),
        ({"lr": [0.0, 0.1]}, r"lr range must be positive"),
        ({"hidden_layers": [0, 2]}, r"hidden_layers range must be positive"),
        ({"batch_sizes": [64, -8]}, r"batch sizes must be positive"),
        ({"dropout": [0.2, 1.5]}, r"dropout range must lie in \[0, 1\)"),
        ({"cutout": [0.1, 2.0]}, r"cutout range must lie in \(0, 1\], got \[0.1, 2.0\]"),
        ({"label_smoothing": [0.1, 1.5]}, r"label_smoothing range must lie in \(0, 1\]"),
        ({"width": [8, 100_000]}, r"width is at most 65536, got 100000"),
        ({"batch_sizes": [64, 2**21]}, r"batch sizes are at most 1048576, got 2097152"),
        ({"optimizers": []}, r"at least one choice"),
        ({"depth": [1, 2]}, r"unknown key 'depth' in space_options"),
    ],
)
def test_bad_options_name_the_field(options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        validate_space_options("mlp", options)


def test_user_space_from_module_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_spaces.py").write_text(
        textwrap.dedent("""
        def tiny(trial):
            return {"lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True), "hidden_sizes": [8]}

        def aware(trial, ctx):
            return {"loss": "mse" if ctx.task == "regression" else "cross_entropy"}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    study = optuna.create_study()
    assert get_space("my_spaces:tiny")(study.ask(), SpaceContext())["hidden_sizes"] == [8]
    assert (
        get_space("my_spaces:aware")(study.ask(), SpaceContext(task="regression"))["loss"] == "mse"
    )
    assert [p.name for p in describe_space(get_space("my_spaces:tiny"), SpaceContext())] == ["lr"]
    sys.modules.pop("my_spaces", None)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", r"unknown space 'nope' \(choose one of: mlp, quick"),
        ("no_such_module_xyz:f", r"cannot import module 'no_such_module_xyz'"),
        ("os:no_function_here", r"os has no function 'no_function_here'"),
        (":f", r"is not 'package.module:function'"),
    ],
)
def test_unknown_spaces_are_clear_errors(ref: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        get_space(ref)


def test_describe_marks_conditional_parameters() -> None:
    params = {p.name: p for p in describe_space(get_space("mlp"), SpaceContext())}
    assert not params["optimizer"].conditional
    assert params["momentum"].conditional and params["width_4"].conditional
    assert params["lr"].distribution == "float in [0.0001, 0.3] (log)"
