"""A user's space that breaks the contract is refused before any trial runs, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from hpsearch.commands import cli
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.spaces import SpaceContext, call_space, get_space
from hpsearch.tuning._space import DefineByRun

#: A module of broken (and two sound) spaces, written where the tests import it from.
SPACES_MODULE = """
def typo(trial):
    return {"learning_rate": trial.suggest_float("lr", 1e-3, 1e-1, log=True)}

def conditional_typo(trial):
    # The bad key only on one branch: the probe trials must reach it.
    if trial.suggest_categorical("optimizer", ["adam", "sgd"]) == "sgd":
        return {"optimizer": "sgd", "momentun": 0.9}
    return {"optimizer": "adam"}

def text_lr(trial):
    return {"lr": "0.01"}

def bool_batch(trial):
    return {"batch_size": True}

def zero_width(trial):
    return {"hidden_sizes": [64, 0]}

def lion(trial):
    return {"optimizer": "lion"}

def always_mse(trial):
    return {"loss": "mse"}

def flips(trial):
    return {"augmentation": "flip", "augmentation_strength": 0.5}

def forgets_return(trial):
    trial.suggest_float("lr", 1e-3, 1e-1)

def sets_seed(trial):
    return {"seed": 7}

def raises(trial, context):
    raise KeyError("options")

def late(trial):
    # Sound on every probe trial; trial 100 of a real study breaks it.
    return {"lr": 0.01, **({"wd": 0.1} if trial.number == 100 else {})}

def sound(trial, context):
    loss = "cross_entropy" if context.task == "classification" else "mse"
    return {"lr": trial.suggest_float("lr", 1e-3, 1e-1, log=True), "loss": loss}
"""


@pytest.fixture
def user_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "user_spaces.py").write_text(textwrap.dedent(SPACES_MODULE))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("user_spaces", None)


REFUSALS = [
    (
        "typo",
        "space 'user_spaces:typo' returned unknown key 'learning_rate' (allowed: optimizer, lr, "
        "weight_decay, momentum, nesterov, hidden_sizes, activation, dropout, batch_norm, "
        "batch_size, augmentation, augmentation_strength, loss, loss_param; did you mean 'lr'?)",
    ),
    ("conditional_typo", "returned unknown key 'momentun' (allowed: optimizer, lr,"),
    ("conditional_typo", "did you mean 'momentum'?"),
    ("text_lr", "space 'user_spaces:text_lr' returned lr='0.01' (lr must be a number)"),
    ("bool_batch", "returned batch_size=True (batch_size must be a positive integer)"),
    ("zero_width", "returned hidden_sizes=[64, 0] (hidden_sizes must be a list of positive"),
    ("lion", "returned optimizer='lion' (choose one of: sgd, adam, adamw, rmsprop)"),
    ("always_mse", "returned loss='mse' for a classification task (choose one of: cross_entropy"),
    ("flips", "returned augmentation='flip', which needs image data"),
    ("forgets_return", "space 'user_spaces:forgets_return' returned NoneType, not a dict"),
    ("sets_seed", "returned 'seed', which hpsearch sets for each trial (leave it out)"),
    ("raises", "space 'user_spaces:raises' raised KeyError: 'options' (fix the space function)"),
]


@pytest.mark.usefixtures("user_spaces")
@pytest.mark.parametrize(("function", "message"), REFUSALS)
def test_a_broken_space_is_refused_when_the_config_is_made(function: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        SearchConfig(space=f"user_spaces:{function}")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.usefixtures("user_spaces")
def test_sound_spaces_pass_and_a_loss_waits_for_the_detected_task() -> None:
    SearchConfig(space="user_spaces:sound")
    SearchConfig(space="user_spaces:sound", dataset="friedman")
    # A table's task is known only once it is read: the loss is checked then.
    SearchConfig(space="user_spaces:always_mse", data="houses.csv", target="price")
    SearchConfig(space="user_spaces:always_mse", dataset="friedman")
    with pytest.raises(UserError, match="for a classification task"):
        SearchConfig(
            space="user_spaces:always_mse", data="h.csv", target="y", task="classification"
        )
    SearchConfig(space="user_spaces:flips", data="digits.csv", target="y", input_shape="8x8")


@pytest.mark.usefixtures("user_spaces")
def test_every_trial_is_checked_not_only_the_probes() -> None:
    SearchConfig(space="user_spaces:late")
    define = DefineByRun("user_spaces:late", SpaceContext(), search_seed=0)
    study = optuna.create_study()
    for _ in range(100):
        define(study.ask())
    with pytest.raises(UserError, match=r"returned unknown key 'wd' .*did you mean 'weight_decay'"):
        define(study.ask())


@pytest.mark.usefixtures("user_spaces")
def test_the_probe_with_the_datas_context_refuses_what_the_config_could_not_know() -> None:
    context = SpaceContext(task="regression")
    DefineByRun("user_spaces:always_mse", context, 0).probe()
    with pytest.raises(UserError, match="for a classification task"):
        DefineByRun("user_spaces:always_mse", SpaceContext(task="classification"), 0).probe()


def test_registered_spaces_go_through_the_same_check() -> None:
    trial = optuna.create_study().ask()

    def space(trial: optuna.trial.Trial, context: SpaceContext) -> dict[str, object]:
        return {**get_space("quick")(trial, context), "hidden_layers": 2}

    with pytest.raises(
        UserError, match=r"unknown key 'hidden_layers'.*did you mean 'hidden_sizes'"
    ):
        call_space(space, "patched", trial, SpaceContext())


@pytest.mark.usefixtures("user_spaces")
def test_the_cli_refuses_it_in_one_line_and_writes_nothing(results_root: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--space", "user_spaces:typo", "--num-samples", "2"], prog_name="hpsearch"
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("hpsearch: error: space 'user_spaces:typo' returned unknown")
    assert result.stderr.count("\n") == 1 and "did you mean 'lr'?" in result.stderr
    assert not results_root.exists()


@pytest.mark.slow
def test_a_real_hpsearch_run_refuses_it_with_exit_2(user_spaces: Path, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_spaces), *sys.path])}
    args = ["run", "--space", "user_spaces:conditional_typo", "--storage", str(storage)]
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", *args, "--num-samples", "2", "--max-epochs", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "hpsearch: error: space 'user_spaces:conditional_typo' returned unknown key 'momentun' "
        "(allowed: optimizer, lr, weight_decay, momentum, nesterov, hidden_sizes, activation, "
        "dropout, batch_norm, batch_size, augmentation, augmentation_strength, loss, "
        "loss_param; did you mean 'momentum'?)\n"
    )
    assert done.stdout == ""
    assert not storage.exists() or not any(storage.iterdir())


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("user_spaces", "ray_session")
def test_a_search_refuses_a_loss_unfit_for_the_task_it_detected(
    tmp_path: Path, results_root: Path
) -> None:
    from hpsearch import run_search

    table = tmp_path / "churn.csv"
    rows = [f"{i % 7},{i % 5},{'yes' if i % 3 else 'no'}" for i in range(90)]
    table.write_text("\n".join(["calls,plan,churned", *rows]) + "\n")
    # Task auto: only the table says it is classification, after the config was made.
    config = SearchConfig(space="user_spaces:always_mse", data=str(table), target="churned")
    with pytest.raises(UserError, match=r"returned loss='mse' for a classification task"):
        run_search(config, echo=None)
    assert not results_root.exists() or not any(results_root.iterdir())
