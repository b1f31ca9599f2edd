"""The command line, through click's runner and as a real subprocess.

Every command's --help, the groups and unknown commands: tests/commands/test_help.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hpsearch.commands import cli
from hpsearch.commands._shared import config_from_flags, search_options

HPSEARCH = [sys.executable, "-m", "hpsearch"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="hpsearch")
    return result.exit_code, result.stdout, result.stderr


def test_import_and_help_load_neither_torch_nor_ray() -> None:
    script = (
        "import sys, hpsearch\n"
        "from hpsearch.commands import cli\n"
        # The job verbs talk to a cluster's HTTP API (nobody answers on port 1): no
        # torch either, so following a job from a laptop starts at once.
        "job = ['--address', 'http://127.0.0.1:1']\n"
        "for args in (['--help'], ['run', '--help'], ['job', 'submit', '--help'],\n"
        "             ['job', 'list', *job], ['job', 'status', 'x', *job]):\n"
        "    try:\n        cli.main(args, prog_name='hpsearch')\n"
        "    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "search.yaml"
    path.write_text(text)
    return str(path)


MISTAKES = [
    (["--sampler", "annealing"], "Invalid value for '--sampler': 'annealing' is not one of"),
    (["--scheduler", "pbt"], "Invalid value for '--scheduler'"),
    (["--space", "nosuch"], "unknown space 'nosuch' (choose one of: mlp, quick"),
    (["--dataset", "mnist"], "unknown dataset 'mnist' (choose one of: teacher, spirals"),
    (["--max-epochs", "0"], "max_epochs: Input should be greater than 0 (got 0)"),
    (["--num-samples", "-3"], "num_samples: Input should be greater than 0 (got -3)"),
    (["--cpus-per-trial", "0"], "cpus_per_trial: Input should be greater than 0"),
    (["--metric", "val_rmse"], "metric 'val_rmse' is not reported for classification"),
    (["--name", "../escape"], "name '../escape' is not a valid experiment name"),
    (["--max-epochs", "ten"], "Invalid value for '--max-epochs': 'ten' is not a valid integer"),
    (["--ensemble-size", "-1"], "ensemble_size: Input should be greater than or equal to 0"),
    (["--frobnicate"], "No such option '--frobnicate'"),
    (["--pack", "0"], "pack '0' is not a number of trials from 1 to 256, or auto"),
    (["--pack", "many"], "pack 'many' is not a number of trials from 1 to 256, or auto"),
    ("pack: 2.5\n", "pack '2.5' is not a number of trials from 1 to 256, or auto"),
    ("pack: [4]\n", "pack '[4]' is not a number of trials"),
    (["--pack", "4", "--sampler", "cmaes"], "the cmaes sampler cannot fill packs"),
    (["--objective", "val_rmse:min"], "objective names 'val_rmse', which is not reported for c"),
    (["--objective", "val_accuracy:up"], "objective 'val_accuracy:up' is not METRIC or METRIC:min"),
    (["--constraint", "num_params<=lots"], "'lots' is not a finite number"),
    (["--constraint", "num_params<=1", "--constraint", "num_params<=1.0"], "given twice"),
    (["--metric", "val_loss", "--objective", "val_accuracy"], "give either metric/mode or obj"),
    (["--objective", "val_accuracy,latency_ms", "--sampler", "cmaes"], "CMA-ES optimizes one"),
    (["--objective", "val_accuracy,num_params", "--scheduler", "median"], "median stopping"),
    ("objectives: [val_accuracy, latency_ms:fast]\n", "objective 'latency_ms:fast' is not"),
    (
        "space_options:\n  optimizers: [adam, lion]\n",
        "space_options.optimizers: 'lion' is not allowed (choose one of: sgd, adam, adamw or "
        "rmsprop)",
    ),
    ("space_options:\n  lr: [0.1, 0.001]\n", "lr range is reversed: [0.1, 0.001]"),
    ("space_options:\n  lr: [0, 0.1]\n", "lr range must be positive"),
    ("space_options:\n  width: [-4, 64]\n", "width range must be positive"),
    ("space_options:\n  batch_sizes: [64, -32]\n", "batch sizes must be positive, got [-32]"),
    ("max_epochs: 0\n", "max_epochs: Input should be greater than 0"),
    ("num_samples: [1, 2\n", "is not valid YAML at line 2"),
    ("num_samples: 4\nepochs: 3\n", "unknown key 'epochs' (allowed keys: dataset, data, target"),
    ("space_options:\n  depth: 3\n", "unknown key 'depth' in space_options"),
    ("- just\n- a list\n", "must hold a mapping of settings, not list"),
]


@pytest.mark.parametrize(("mistake", "message"), MISTAKES)
def test_user_mistakes_are_one_line_exit_2_and_write_nothing(
    mistake: list[str] | str, message: str, tmp_path: Path, results_root: Path
) -> None:
    args = ["--config", write(tmp_path, mistake)] if isinstance(mistake, str) else mistake
    code, out, err = invoke("run", *args)
    assert code == 2
    assert err.startswith("hpsearch: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err + out
    assert not results_root.exists()


def test_a_missing_config_file_is_a_user_error(tmp_path: Path) -> None:
    code, _, err = invoke("run", "--config", str(tmp_path / "absent.yaml"))
    assert code == 2 and "cannot read config file" in err and "No such file" in err


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    from hpsearch.commands._shared import config_from_flags

    path = write(tmp_path, "num_samples: 5\nsampler: random\nspace_options:\n  lr: [0.001, 0.01]\n")
    config = config_from_flags(path, {"num_samples": 7, "sampler": None})
    assert config.num_samples == 7 and config.sampler == "random"
    assert config.space_options == {"lr": [0.001, 0.01]}


def test_objective_and_constraint_flags_reach_the_config(tmp_path: Path) -> None:
    @click.command()
    @search_options
    def probe(config_file: str | None, **flags: object) -> None:
        config = config_from_flags(config_file, flags)
        click.echo(json.dumps([config.objectives, config.constraints]))

    def run(*args: str) -> list[list[str]]:
        result = CliRunner().invoke(probe, list(args))
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    given = run(
        "--objective",
        "val_accuracy,latency_ms",
        "--constraint",
        "num_params<=2e4",
        "--constraint",
        "latency_ms<=0.5,latency_1024_ms<=20",
    )
    assert given == [
        ["val_accuracy:max", "latency_ms:min"],
        ["num_params<=20000", "latency_ms<=0.5", "latency_1024_ms<=20"],
    ]
    # Absent flags leave the config file's lists alone; a given one replaces its list.
    path = write(tmp_path, "objectives: val_loss,num_params\nconstraints: [num_params<=100]\n")
    assert run("--config", path) == [["val_loss:min", "num_params:min"], ["num_params<=100"]]
    assert run("--config", path, "--constraint", "num_params<=5")[1] == ["num_params<=5"]
    # Repeated, as --constraint is: each adds one (the last did not replace the first).
    both = run("--objective", "val_accuracy", "--objective", "latency_ms:min")
    assert both[0] == ["val_accuracy:max", "latency_ms:min"]


def test_listing_commands() -> None:
    code, out, _ = invoke("datasets")
    assert code == 0 and "spirals" in out and "friedman       regression" in out
    code, out, _ = invoke("spaces", "mlp")
    assert code == 0 and "momentum" in out and "(conditional)" in out and "narrow it under" in out
    code, out, _ = invoke("spaces", "mlp", "--task", "regression")
    assert "huber_delta" in out and "label_smoothing " not in out


@pytest.mark.ray
@pytest.mark.slow
def test_the_default_search_fills_both_cpus_stops_poor_trials_and_is_accurate(
    tmp_path: Path,
) -> None:
    """The README's first command: 32 trials x 40 epochs on teacher keep 2 trials
    running, ASHA stops some, live progress shows it, and the best model is well
    above chance (25%) and logistic regression (~74%)."""
    env = {**os.environ, "HPSEARCH_STORAGE": str(tmp_path)}
    out = subprocess.run([*HPSEARCH, "run"], capture_output=True, text=True, env=env, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 trials at a time" in out.stdout
    assert "stopped early at epoch" in out.stdout  # live progress
    assert "Best trial" in out.stdout and "held-out test: test_loss" in out.stdout
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["config"]["num_samples"] == 32 and summary["dataset"] == "teacher"
    assert summary["trials"]["total"] == 32 and summary["trials"]["stopped"] >= 1
    assert summary["concurrency"]["share_2_or_more"] >= 0.6
    max_epochs = summary["config"]["max_epochs"]
    assert all(r["epochs"] < max_epochs for r in summary["leaderboard"] if r["state"] == "stopped")
    assert summary["best"]["val_accuracy"] >= 0.74
    assert summary["best"]["test"]["test_accuracy"] >= 0.72


def _interrupted(
    command: list[str], sent: int, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str, str]:
    """``hpsearch COMMAND`` in a process of its own, sent ``sent`` once trials are
    finishing: the process, and what it printed to stdout and stderr."""
    proc = subprocess.Popen(
        [*HPSEARCH, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until trials are finishing, then press Ctrl-C / SIGTERM
        if "done)" in line:
            proc.send_signal(sent)
            break
    rest, err = proc.communicate(timeout=120)
    return proc, rest, err


@pytest.mark.ray
@pytest.mark.slow
def test_ctrl_c_or_sigterm_stops_the_search_summarizes_it_and_it_resumes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C on a search, SIGTERM on its resume (Ray's `job stop` sends it): each stops
    its trials, summarizes and exits with the signal's code; a last resume finishes it.
    (Both signals take the same path, signals.sigterm_as_interrupt, in run and resume.)"""
    import signal

    from tests.tuning.test_resume import hpsearch as in_process

    env = {**os.environ, "HPSEARCH_STORAGE": str(tmp_path)}
    args = ["run", "--space", "quick", "--num-samples", "6", "--max-epochs", "6", "--name", "intr"]
    proc, rest, err = _interrupted(args, signal.SIGINT, env)
    assert proc.returncode == 130, err[-2000:]
    assert "Interrupted after" in rest and "of 6 trials" in rest
    summary = json.loads((tmp_path / "intr" / "summary.json").read_text())
    assert summary["ended"] == "interrupted" and summary["trials"]["total"] < 6
    assert json.loads((tmp_path / "intr" / "status.json").read_text())["state"] == "ended"
    assert "Traceback" not in err and "SIGTERM received" not in err  # Ray's C++ dump

    resuming, rest, err = _interrupted(["resume", "intr"], signal.SIGTERM, env)
    assert resuming.returncode == 143 and "Traceback" not in err, err[-2000:]
    assert "SIGTERM received" not in err
    summary = json.loads((tmp_path / "intr" / "summary.json").read_text())
    assert summary["ended"] == "terminated" and "Terminated after" in rest
    assert json.loads((tmp_path / "intr" / "status.json").read_text())["state"] == "ended"
    assert json.loads((tmp_path / "intr" / "hpsearch.json").read_text())["resumed"]

    # The rest of the search, from where the signals left it: in this process, on the
    # tests' shared Ray (a process of its own would pay Ray's start-up again).
    request.getfixturevalue("ray_session")
    listed = in_process(tmp_path, "list")
    assert listed.stdout.splitlines()[1].split()[1] == "interrupted"
    resumed = in_process(tmp_path, "resume", "intr", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((tmp_path / "intr" / "summary.json").read_text())
    assert summary["ended"] == "finished" and summary["trials"]["total"] == 6
    assert {r["number"] for r in summary["leaderboard"]} == set(range(6))
    assert not list((tmp_path / "intr").glob("claim-*")), "each driver drops its claim"
