"""One trial's training, an epoch at a time, with exact save and restore.

Kept apart from Ray so it reads top to bottom and can be tested without a
cluster; :mod:`hpsearch.trainable._tune` is the thin adapter to Tune.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
import torch

from hpsearch.data import TabularData
from hpsearch.metrics import TASK_METRICS, is_better
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._latency import measure_latency
from hpsearch.trainable._metrics import evaluate
from hpsearch.trainable._model import build_mlp, build_optimizer, count_parameters
from hpsearch.trainable._objective import build_augmentation, build_loss
from hpsearch.trainable._settings import TrainSettings


def pick_device(settings: TrainSettings) -> torch.device:
    """The trial's GPU when it asked for one and one is visible, else the CPU."""
    if settings.gpus_per_trial > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A tensor over ``array`` without copying when it stays on the CPU.

    Arrays from Ray's object store are read-only views of shared memory;
    torch warns about that, but trials never write to their inputs.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array).to(device)


def device_splits(
    data: TabularData, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[float, float]]:
    """Train and validation inputs and targets on ``device``, and the targets' (mean,
    std): regression trains on standardized targets, so one learning-rate range suits
    any units."""
    x_train, x_val = as_tensor(data.x_train, device), as_tensor(data.x_val, device)
    y_train, y_val = as_tensor(data.y_train, device), as_tensor(data.y_val, device)
    if data.task != "regression":
        return x_train, y_train, x_val, y_val, (0.0, 1.0)
    mean, std = float(data.y_train.mean()), float(data.y_train.std()) or 1.0
    return x_train, (y_train - mean) / std, x_val, (y_val - mean) / std, (mean, std)


def schedule_factor(schedule: str, step: int, total: int) -> float:
    """The share of the base learning rate at optimizer ``step`` of ``total``:
    1 for ``constant``; for ``cosine`` a linear warm-up over the first 5% then
    a cosine decay towards 0 at the last step of ``max_epochs``."""
    if schedule != "cosine":
        return 1.0
    warmup = max(1, total // 20)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class TrainingRun:
    """A model, its optimizer and its data on one device, trained an epoch per :meth:`step`."""

    def __init__(
        self,
        hp: HParams,
        data: TabularData,
        settings: TrainSettings,
        device: torch.device | None = None,
    ) -> None:
        self.hp, self.settings, self.task = hp, settings, data.task
        self.device = device or pick_device(settings)
        # One seed per trial drives weight init, shuffling, dropout and augmentation.
        torch.manual_seed(hp.seed)

        # The data moves to the trial's device once; batches are index slices of it.
        self.x_train, self.y_train, self.x_val, self.y_val, self.target_scale = device_splits(
            data, self.device
        )
        self.embedded = data.num_numeric
        self.model = build_mlp(data.num_features, data.num_outputs, hp, self.embedded)
        self.model = self.model.to(self.device)
        self.optimizer = build_optimizer(self.model, hp)
        self.loss_fn = build_loss(hp, self.task)
        self.augment = build_augmentation(hp, data.input_shape)
        self.num_params = count_parameters(self.model)
        self.epoch = 0
        self.best_value: float | None = None
        self.best_epoch = 0
        self.best_model: dict[str, torch.Tensor] | None = None
        # Measured once in this process (after the first epoch it runs), then carried.
        self.latency: dict[str, float] | None = None

    def train_epoch(self) -> float:
        """One pass over the training split; returns the mean of the batch losses."""
        self.model.train()
        n = len(self.x_train)
        batch = self.hp.batch_size
        # Slicing a shuffled index over resident tensors: no per-sample
        # Dataset/DataLoader, which costs 1.3-2x per epoch on small MLPs.
        order = torch.randperm(n, device=self.device)
        total = torch.zeros((), device=self.device)
        batches = 0
        per_epoch = -(-n // batch)
        # The step count follows from the epoch, so a restored trial resumes its schedule.
        step, steps = self.epoch * per_epoch, per_epoch * self.settings.max_epochs
        scheduled = self.hp.lr_schedule != "constant"
        for start in range(0, n, batch):
            if scheduled:
                self.set_lr(schedule_factor(self.hp.lr_schedule, step, steps))
                step += 1
            idx = order[start : start + batch]
            if len(idx) < 2 and self.hp.batch_norm:
                continue  # batch norm cannot train on a single row
            x, y_a, y_b, lam = self.augment(self.x_train[idx], self.y_train[idx])
            out = self.model(x)
            loss = self.loss_fn(out, y_a)
            if lam < 1.0:
                loss = lam * loss + (1.0 - lam) * self.loss_fn(out, y_b)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            # Accumulate on the device: one host sync per epoch, not per batch.
            total += loss.detach()
            batches += 1
        return float(total) / max(batches, 1)

    def set_lr(self, factor: float) -> None:
        """The optimizer's learning rate, as ``factor`` times the trial's own."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.hp.lr * factor

    def validate(self) -> dict[str, float]:
        """Metrics on the validation split."""
        return evaluate(self.model, self.x_val, self.y_val, self.task, "val", self.target_scale)

    def step(self) -> dict[str, Any]:
        """Train one epoch and return the metrics Tune reports for it.

        A non-finite training loss ends the trial: the metrics then carry
        ``diverged=True`` and NaN validation scores.
        """
        start = time.perf_counter()
        train_loss = self.train_epoch()
        self.epoch += 1
        metrics: dict[str, Any] = {"epoch": self.epoch, "train_loss": train_loss}
        if not math.isfinite(train_loss):
            val = [m for m in TASK_METRICS[self.task] if m.startswith("val_")]
            metrics.update(dict.fromkeys(val, float("nan")))
            metrics["diverged"] = True
        else:
            metrics.update(self.validate())
            metrics["diverged"] = False
        # The epoch's own work: the one-off latency measurement is not part of it.
        epoch_time_s = time.perf_counter() - start
        metrics.update(self.model_metrics())
        if not metrics["diverged"]:
            value = metrics[self.settings.metric]
            if is_better(value, self.best_value, self.settings.mode):
                self.best_value, self.best_epoch = value, self.epoch
                self.best_model = copy.deepcopy(self.model.state_dict())
        metrics["epoch_time_s"] = epoch_time_s
        return metrics

    def model_metrics(self) -> dict[str, Any]:
        """``num_params``, and the CPU latency when the settings ask for it: measured
        the first time, carried after (the architecture, hence the cost, is fixed)."""
        metrics: dict[str, Any] = {"num_params": self.num_params}
        if self.settings.measure_latency:
            if self.latency is None:
                self.latency = measure_latency(self.model, self.x_train)
            metrics.update(self.latency)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stopped."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
            "best": {"value": self.best_value, "epoch": self.best_epoch, "model": self.best_model},
            "target_scale": self.target_scale,
            "embedded": self.embedded,
            "hparams": dataclasses.asdict(self.hp),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next :meth:`step` is the epoch after it."""
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        best = state["best"]
        self.best_value, self.best_epoch, self.best_model = (
            best["value"],
            best["epoch"],
            best["model"],
        )
        # A trial restored from a checkpoint may run on another machine: measure it there.
        self.latency = None
