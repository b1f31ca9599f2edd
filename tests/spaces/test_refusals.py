"""A user's space that breaks the contract is refused before any trial runs, in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from hpsearch.commands import cli
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.spaces import PROBE_TRIALS, SpaceContext, call_space, check_config, get_space
from hpsearch.tuning._space import DefineByRun

#: A module of broken (and two sound) spaces, written where the tests import it from.
SPACES_MODULE = """
from collections.abc import Mapping

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

def exits(trial):
    raise SystemExit(0)

def exits_with_text(trial):
    import sys
    sys.exit("no GPU here")

def closes(trial):
    raise GeneratorExit

class Unprintable:
    def __repr__(self):
        raise RuntimeError("repr broke")

def unprintable_value(trial):
    return {"lr": Unprintable()}

def unprintable_key(trial):
    return {Unprintable(): 0.1}

class Unreadable(Mapping):
    # A lazy config whose values cannot be fetched.
    def __getitem__(self, key):
        raise RuntimeError("lost the connection")
    def __iter__(self):
        return iter(["lr"])
    def __len__(self):
        return 1

def unreadable(trial):
    return Unreadable()

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


#: The keys a space may return, as the refusal lists them.
ALLOWED = (
    "optimizer, lr, lr_schedule, weight_decay, momentum, nesterov, hidden_sizes, activation, "
    "embedding, embedding_scale, dropout, batch_norm, batch_size, augmentation, "
    "augmentation_strength, loss, loss_param"
)

REFUSALS = [
    (
        "typo",
        f"space 'user_spaces:typo' returned unknown key 'learning_rate' (allowed: {ALLOWED}; "
        "did you mean 'lr'?)",
    ),
    ("conditional_typo", "returned unknown key 'momentun' (allowed: optimizer, lr,"),
    ("conditional_typo", "did you mean 'momentum'?"),
    ("text_lr", "space 'user_spaces:text_lr' returned lr='0.01' (lr must be a finite number > 0)"),
    ("bool_batch", "returned batch_size=True (batch_size must be a positive integer)"),
    ("zero_width", "returned hidden_sizes=[64, 0] (hidden_sizes must be a list of positive"),
    ("lion", "returned optimizer='lion' (choose one of: sgd, adam, adamw, rmsprop)"),
    ("always_mse", "returned loss='mse' for a classification task (choose one of: cross_entropy"),
    ("flips", "returned augmentation='flip', which needs image data"),
    ("forgets_return", "space 'user_spaces:forgets_return' returned NoneType, not a dict"),
    ("sets_seed", "returned 'seed', which hpsearch sets for each trial (leave it out)"),
    ("raises", "space 'user_spaces:raises' raised KeyError: 'options' (fix the space function)"),
    # sys.exit() in a space is the space's bug, not hpsearch's exit code.
    ("exits", "space 'user_spaces:exits' raised SystemExit: 0 (fix the space function)"),
    ("exits_with_text", "raised SystemExit: no GPU here (fix the space function)"),
    ("closes", "space 'user_spaces:closes' raised GeneratorExit (fix the space function)"),
    # What cannot be printed or read is still one line, not a traceback.
    ("unprintable_value", "returned lr=<unprintable Unprintable> (lr must be a finite number > 0)"),
    ("unprintable_key", "returned a key that is not text: <unprintable Unprintable>"),
    (
        "unreadable",
        "space 'user_spaces:unreadable' returned Unreadable, which could not be read as a "
        "dict: RuntimeError: lost the connection (return a plain dict)",
    ),
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


def test_only_ctrl_c_passes_through_a_space() -> None:
    def interrupted(trial: optuna.trial.Trial, context: SpaceContext) -> dict[str, object]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_space(interrupted, "interrupted", optuna.create_study().ask(), SpaceContext())


#: Values of the right kind but out of what the trainable accepts, and sizes past the caps.
OUT_OF_RANGE = [
    ({"lr": float("nan")}, "returned lr=nan (lr must be a finite number > 0)"),
    ({"lr": float("inf")}, "returned lr=inf (lr must be a finite number > 0)"),
    ({"lr": -float("inf")}, "returned lr=-inf (lr must be a finite number > 0)"),
    ({"lr": np.float32("nan")}, "returned lr=nan (lr must be a finite number > 0)"),
    ({"lr": -0.01}, "returned lr=-0.01 (lr must be a finite number > 0)"),
    ({"lr": 0}, "returned lr=0 (lr must be a finite number > 0)"),
    (
        {"lr": 10**400},
        "0000... (lr must be a finite number > 0)",  # an int past float, shortened
    ),
    ({"dropout": 5.0}, "returned dropout=5.0 (dropout must be a finite number in [0, 1))"),
    ({"dropout": 1.0}, "returned dropout=1.0 (dropout must be a finite number in [0, 1))"),
    ({"weight_decay": -1}, "returned weight_decay=-1 (weight_decay must be a finite number >= 0)"),
    ({"momentum": 1.5}, "returned momentum=1.5 (momentum must be a finite number in [0, 1])"),
    ({"augmentation_strength": -0.1}, "augmentation_strength must be a finite number >= 0"),
    ({"loss_param": -0.1}, "returned loss_param=-0.1 (loss_param must be a finite number >= 0)"),
    ({"hidden_sizes": [64] * 65}, "(hidden_sizes lists at most 64 hidden layers)"),
    ({"hidden_sizes": [64, 10**9]}, "(each width in hidden_sizes is at most 65536)"),
    ({"batch_size": 2**21}, "returned batch_size=2097152 (batch_size is at most 1048576)"),
    ({"batch_size": np.int64(0)}, "returned batch_size=0 (batch_size must be a positive integer)"),
    (
        {"augmentation": "flip", "augmentation_strength": 1.5},
        "returned augmentation_strength=1.5 for flip (flip's strength is a probability, in [0, 1])",
    ),
    (
        {"augmentation": "cutout", "augmentation_strength": 2.0},
        "(cutout's strength is a share of the image side, in [0, 1])",
    ),
    (
        {"augmentation": "feature_dropout", "augmentation_strength": 1.0},
        "(feature_dropout's strength is the share of features dropped, in [0, 1))",
    ),
    ({"loss": "huber"}, "returned loss='huber' without loss_param (return loss_param > 0"),
    ({"loss": "huber", "loss_param": 0}, "returned loss='huber' with loss_param=0.0 (return"),
    (
        {"loss": "label_smoothing", "loss_param": 1.5},
        "returned loss='label_smoothing' with loss_param=1.5 (label smoothing is in [0, 1])",
    ),
]


@pytest.mark.parametrize(("config", "message"), OUT_OF_RANGE)
def test_values_out_of_range_are_refused_in_one_line(config: dict, message: str) -> None:
    task = "regression" if config.get("loss") == "huber" else "classification"
    with pytest.raises(UserError) as caught:
        check_config("s", config, SpaceContext(task=task, input_shape=(1, 8, 8)))  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert str(caught.value).startswith("space 's' returned ") and "\n" not in str(caught.value)


def test_the_edges_of_each_range_pass() -> None:
    edges = {
        "lr": 1e12,  # no upper bound: a diverging trial is the search's to record
        "weight_decay": 0,
        "momentum": 1.0,
        "dropout": 0.0,
        "hidden_sizes": [65536] * 64,
        "batch_size": 2**20,
        "augmentation": "flip",
        "augmentation_strength": 1.0,
        "loss": "huber",
        "loss_param": 1e-6,
    }
    context = SpaceContext(task="regression", input_shape=(1, 8, 8))
    assert check_config("s", edges, context) == {**edges, "weight_decay": 0.0}
    assert check_config("s", {}, context) == {}


def test_numpy_scalars_come_back_as_python_values() -> None:
    config = {
        "lr": np.float32(0.5),
        "weight_decay": np.float64(0.25),
        "batch_size": np.int64(64),
        "batch_norm": np.bool_(True),
        "hidden_sizes": (np.int64(32), np.int32(16)),
        "optimizer": np.str_("adam"),
        "dropout": np.int8(0),
    }
    checked = check_config("s", config, SpaceContext())
    expected = {
        "lr": 0.5,
        "weight_decay": 0.25,
        "batch_size": 64,
        "batch_norm": True,
        "hidden_sizes": [32, 16],
        "optimizer": "adam",
        "dropout": 0.0,
    }
    assert checked == expected
    assert {k: type(v) for k, v in checked.items()} == {k: type(v) for k, v in expected.items()}
    assert [type(w) for w in checked["hidden_sizes"]] == [int, int]
    # What Tune's params.json and the summary write: numbers, not "64".
    assert json.dumps(checked, default=str) == json.dumps(expected)


@pytest.mark.parametrize(
    ("key", "guess"),
    [("LR", "lr"), ("Batch_Size", "batch_size"), ("DROPUOT", "dropout"), ("WD", "weight_decay")],
)
def test_did_you_mean_ignores_case(key: str, guess: str) -> None:
    with pytest.raises(UserError, match=rf"unknown key '{key}' .*; did you mean '{guess}'\?\)$"):
        check_config("s", {key: 1}, SpaceContext())


@pytest.mark.usefixtures("user_spaces")
@pytest.mark.parametrize("function", ["exits", "exits_with_text"])
def test_a_space_calling_sys_exit_is_an_error_not_the_exit_code(
    function: str, results_root: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--space", f"user_spaces:{function}", "--num-samples", "2"],
        prog_name="hpsearch",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"hpsearch: error: space 'user_spaces:{function}' raised")
    assert result.stderr.count("\n") == 1
    assert not results_root.exists()


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
        f"(allowed: {ALLOWED}; did you mean 'momentum'?)\n"
    )
    assert done.stdout == ""
    assert not storage.exists() or not any(storage.iterdir())


#: A space whose broken branch the probe trials never reach; {probed} is filled in.
RARE_BRANCH = """
PROBED = {probed}  # what the probe trials draw: they never take the broken branch

def rare(trial):
    draw = trial.suggest_int("draw", 0, 10**6)
    if trial.number >= 1 and draw not in PROBED:  # a search's second trial: the rare branch
        return {{"lr": 0.01, "dropuot": 0.1}}
    return {{"lr": 0.01}}
"""


def _probe_draws() -> set[int]:
    """What ``trial.suggest_int("draw", 0, 10**6)`` gives on the probe trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return {study.ask().suggest_int("draw", 0, 10**6) for _ in range(PROBE_TRIALS)}


@pytest.mark.slow
def test_a_branch_the_probes_missed_stops_the_search_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "rare_space.py").write_text(RARE_BRANCH.format(probed=sorted(_probe_draws())))
    storage = tmp_path / "storage"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    args = ["run", "--space", "rare_space:rare", "--storage", str(storage), "--name", "rare"]
    # Seed 1: with seed 0, TPE's random start-up draws what the probes (seed 0) drew.
    args += ["--seed", "1", "--num-samples", "3", "--max-epochs", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1] == (
        "hpsearch: error: space 'rare_space:rare' returned unknown key 'dropuot' (allowed: "
        f"{ALLOWED}; did you mean 'dropout'?)"
    ), done.stderr
    assert [line for line in lines if line.startswith("hpsearch: error:")] == lines[-1:]
    assert "Traceback" not in done.stderr + done.stdout
    # The probes passed: the search had started, and records why it stopped.
    status = json.loads((storage / "rare" / "status.json").read_text())
    assert status["state"] == "errored" and "'dropuot'" in status["error"]


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
