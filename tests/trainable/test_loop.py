"""The training loop: exact resume, divergence, metrics, data handling."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from hpsearch.data import load_builtin
from hpsearch.trainable import (
    HParams,
    TrainingRun,
    TrainSettings,
    _latency,
    _loop,
    as_tensor,
    load_state,
    model_from_checkpoint,
    pick_device,
    save_state,
    score_splits,
)

SPIRALS = load_builtin("spirals")
SETTINGS = TrainSettings(max_epochs=6, metric="val_accuracy", mode="max")
# Every source of randomness at once: shuffling, dropout, mixup's Beta and permutation.
NOISY = HParams(
    optimizer="sgd",
    lr=0.05,
    momentum=0.9,
    nesterov=True,
    hidden_sizes=(32, 16),
    dropout=0.2,
    batch_norm=True,
    batch_size=100,
    augmentation="mixup",
    augmentation_strength=0.4,
    seed=7,
)


# The learning-rate schedule must pick up at the restored step; the embedding is restored too.
SCHEDULED = dataclasses.replace(
    NOISY, lr_schedule="cosine", embedding="periodic", embedding_scale=0.3
)


@pytest.mark.parametrize(
    ("hp", "measure_latency"), [(NOISY, False), (NOISY, True), (SCHEDULED, False)]
)
def test_resumed_training_equals_uninterrupted_training(
    tmp_path: Path, hp: HParams, measure_latency: bool
) -> None:
    # Measuring latency (after the first epoch of each process) must not disturb the run.
    settings = dataclasses.replace(SETTINGS, measure_latency=measure_latency)
    straight = TrainingRun(hp, SPIRALS, settings)
    expected = [straight.step() for _ in range(6)]

    first = TrainingRun(hp, SPIRALS, settings)
    for _ in range(3):
        first.step()
    save_state(first.state_dict(), tmp_path)
    # Disturb the global RNG as another trial in the same worker would.
    torch.rand(1000)

    resumed = TrainingRun(hp, SPIRALS, settings)
    resumed.load_state_dict(load_state(tmp_path))
    assert resumed.epoch == 3
    rest = [resumed.step() for _ in range(3)]

    for got, want in zip(rest, expected[3:], strict=True):
        for key in ("epoch", "train_loss", "val_loss", "val_accuracy"):
            assert got[key] == want[key], key
    for a, b in zip(
        resumed.model.state_dict().values(), straight.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert resumed.best_epoch == straight.best_epoch


def test_the_cosine_schedule_warms_up_then_decays_to_zero() -> None:
    total = 200
    factors = [_loop.schedule_factor("cosine", step, total) for step in range(total)]
    warmup = total // 20
    assert factors[:warmup] == pytest.approx([(i + 1) / warmup for i in range(warmup)])
    assert factors[warmup] == 1.0
    after = factors[warmup:]
    assert all(a >= b for a, b in itertools.pairwise(after))
    assert factors[-1] < 1e-3
    assert {_loop.schedule_factor("constant", s, total) for s in (0, 10, 199)} == {1.0}


def test_a_scheduled_run_ends_at_a_learning_rate_near_zero() -> None:
    hp = HParams(lr=0.01, lr_schedule="cosine", hidden_sizes=(8,), seed=0)
    run = TrainingRun(hp, SPIRALS, SETTINGS)
    run.step()
    assert run.optimizer.param_groups[0]["lr"] > 0.5 * hp.lr  # past the warm-up, near the top
    for _ in range(5):
        run.step()
    assert run.optimizer.param_groups[0]["lr"] < 1e-3 * hp.lr


def test_a_periodic_embedding_is_rebuilt_from_its_checkpoint(tmp_path: Path) -> None:
    hp = HParams(embedding="periodic", embedding_scale=0.5, hidden_sizes=(16,), seed=2)
    run = TrainingRun(hp, SPIRALS, SETTINGS)
    metrics = [run.step() for _ in range(2)]
    assert run.embedded == SPIRALS.num_features
    # 2 columns x 16 frequencies x (2 x 16 weights + 1) + 2 x 16 biases, then 32 -> 16 -> 2.
    assert metrics[-1]["num_params"] == 2 * 16 * 33 + 2 * 16 + 32 * 16 + 16 + 16 * 2 + 2
    save_state(run.state_dict(), tmp_path)
    model, state = model_from_checkpoint(tmp_path, SPIRALS.num_features, SPIRALS.num_outputs)
    best = max(metrics, key=lambda m: m["val_accuracy"])
    scores = score_splits(model, state, SPIRALS, ("val",))
    assert scores["val"]["val_accuracy"] == pytest.approx(best["val_accuracy"])
    scripted = torch.jit.script(model)
    x = torch.from_numpy(SPIRALS.x_val[:50])
    torch.testing.assert_close(scripted(x), model(x))


def test_a_good_configuration_learns_the_spirals() -> None:
    hp = HParams(optimizer="adam", lr=0.01, hidden_sizes=(64, 64, 64), batch_size=64, seed=1)
    run = TrainingRun(hp, SPIRALS, TrainSettings(max_epochs=25, metric="val_accuracy", mode="max"))
    metrics = [run.step() for _ in range(25)]
    assert metrics[-1]["val_accuracy"] > 0.95
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    expected = {
        "epoch",
        "train_loss",
        "val_loss",
        "val_accuracy",
        "epoch_time_s",
        "num_params",
        "diverged",
    }
    assert set(metrics[0]) == expected
    assert metrics[0]["num_params"] == sum(p.numel() for p in run.model.parameters())


def test_a_non_finite_loss_ends_the_trial_with_a_reason() -> None:
    hp = HParams(optimizer="sgd", lr=1e12, momentum=0.99, hidden_sizes=(64, 64), seed=0)
    run = TrainingRun(hp, SPIRALS, TrainSettings(max_epochs=5, metric="val_accuracy", mode="max"))
    metrics = run.step()
    for _ in range(4):
        if metrics["diverged"]:
            break
        metrics = run.step()
    assert metrics["diverged"] is True
    assert math.isnan(metrics["val_accuracy"]) and not math.isfinite(metrics["train_loss"])


def test_regression_metrics_are_in_original_units() -> None:
    data = load_builtin("friedman")
    hp = HParams(lr=0.003, hidden_sizes=(64, 64), seed=0)
    run = TrainingRun(hp, data, TrainSettings(max_epochs=15, metric="val_rmse", mode="min"))
    for _ in range(15):
        metrics = run.step()
    # Friedman #1 has noise of std 1: a fitted model's RMSE approaches that, in y's units.
    assert 0.9 < metrics["val_rmse"] < 2.0
    assert metrics["val_r2"] > 0.85
    naive = float(np.sqrt(((data.y_val - data.y_train.mean()) ** 2).mean()))
    assert metrics["val_rmse"] < naive / 2


def test_best_weights_are_kept_and_restored_for_scoring(tmp_path: Path) -> None:
    hp = HParams(optimizer="adam", lr=0.01, hidden_sizes=(32, 32), seed=3)
    run = TrainingRun(hp, SPIRALS, TrainSettings(max_epochs=8, metric="val_accuracy", mode="max"))
    history = [run.step() for _ in range(8)]
    save_state(run.state_dict(), tmp_path)
    best_epoch = max(history, key=lambda m: m["val_accuracy"])["epoch"]
    model, state = model_from_checkpoint(tmp_path, SPIRALS.num_features, SPIRALS.num_outputs)
    assert state["best"]["epoch"] == best_epoch
    scores = score_splits(model, state, SPIRALS, ("val", "test"))
    assert scores["val"]["val_accuracy"] == pytest.approx(history[best_epoch - 1]["val_accuracy"])
    assert set(scores["test"]) == {"test_loss", "test_accuracy"}


def test_cpu_tensors_share_memory_with_the_read_only_arrays() -> None:
    array = np.arange(6, dtype=np.float32)
    array.flags.writeable = False  # as arrays from Ray's object store are
    tensor = as_tensor(array, torch.device("cpu"))
    assert tensor.data_ptr() == array.ctypes.data


def test_model_and_data_live_on_the_trials_device() -> None:
    # On a GPU machine a trial that asked for a GPU trains there, data included;
    # without one it falls back to the CPU rather than failing.
    settings = TrainSettings(max_epochs=1, metric="val_accuracy", mode="max", gpus_per_trial=0.5)
    run = TrainingRun(HParams(seed=0), SPIRALS, settings)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert run.device.type == expected
    assert run.x_train.device.type == expected and run.y_val.device.type == expected
    assert all(p.device.type == expected for p in run.model.parameters())
    assert run.step()["val_accuracy"] > 0
    cpu_only = TrainSettings(max_epochs=1, metric="val_accuracy", mode="max", gpus_per_trial=0)
    assert pick_device(cpu_only).type == "cpu"


LATENCY = ("latency_ms", "latency_1024_ms")


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the loop's latency measurements; torch's thread count is restored after."""
    calls: list[int] = []

    def measure(model: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
        calls.append(len(calls))
        return _latency.measure_latency(model, x)

    monkeypatch.setattr(_loop, "measure_latency", measure)
    threads = torch.get_num_threads()
    yield calls
    torch.set_num_threads(threads)


def test_latency_is_reported_only_when_asked() -> None:
    hp = HParams(hidden_sizes=(16,), seed=0)
    quiet = TrainingRun(hp, SPIRALS, SETTINGS).step()
    assert not set(LATENCY) & set(quiet)
    timed = TrainingRun(hp, SPIRALS, dataclasses.replace(SETTINGS, measure_latency=True)).step()
    assert set(timed) == set(quiet) | set(LATENCY)


def test_latency_is_measured_once_and_carried(measured: list[int]) -> None:
    torch.set_num_threads(2)
    settings = dataclasses.replace(SETTINGS, measure_latency=True)
    run = TrainingRun(HParams(hidden_sizes=(128, 128, 128), seed=0), SPIRALS, settings)
    history = [run.step() for _ in range(3)]
    assert len(measured) == 1
    first = history[0]
    for name in LATENCY:
        assert math.isfinite(first[name]) and first[name] > 0
        assert all(m[name] == first[name] for m in history)  # carried, not measured again
    assert torch.get_num_threads() == 2  # restored after the measurement's one thread


def test_the_latency_measurement_runs_on_one_thread_and_leaves_the_model_as_it_was(
    measured: list[int],
) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    seen: list[tuple[int, bool, bool]] = []
    model.register_forward_hook(
        lambda m, args, out: seen.append(
            (torch.get_num_threads(), m.training, torch.is_inference_mode_enabled())
        )
    )
    torch.set_num_threads(2)
    model.train()
    rng = torch.get_rng_state()
    got = _latency.measure_latency(model, torch.zeros(5, 2))
    assert set(got) == set(LATENCY)
    assert seen and set(seen) == {(1, False, True)}  # one thread, eval mode, no autograd
    assert len(seen) >= sum(r.warmup + r.least for r in _latency.REPEATS.values())
    assert model.training and torch.get_num_threads() == 2
    assert torch.equal(torch.get_rng_state(), rng)  # a resumed trial stays exact


def test_latency_is_measured_again_after_a_restore(tmp_path: Path, measured: list[int]) -> None:
    settings = dataclasses.replace(SETTINGS, measure_latency=True)
    run = TrainingRun(HParams(hidden_sizes=(16,), seed=0), SPIRALS, settings)
    run.step()
    save_state(run.state_dict(), tmp_path)
    run.load_state_dict(load_state(tmp_path))
    # The restored trial may run on another machine: it measures there.
    assert set(LATENCY) <= set(run.step()) and len(measured) == 2
    assert set(LATENCY) <= set(run.step()) and len(measured) == 2
