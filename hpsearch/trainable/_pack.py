"""A pack: several trials of one architecture trained together as one batched model.

Small MLPs on tables are overhead-bound: one trial's step is microseconds of
arithmetic wrapped in milliseconds of Python and kernel launches. A pack runs K
members' steps as one (stacked weights, batched matmuls), each member with its own
hyperparameters, shuffle, best epoch and checkpoint slice. Members leave the batch as
they end (completed, diverged, or stopped by the scheduler), so the pack's compute
shrinks with them. Kept apart from Ray, like :class:`TrainingRun`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpsearch.data import TabularData
from hpsearch.metrics import TASK_METRICS, is_better
from hpsearch.trainable._checkpoint import MEMBER_PREFIX, PACK_FILE, load_state, save_state
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._latency import measure_latency
from hpsearch.trainable._loop import device_splits, pick_device, schedule_factor
from hpsearch.trainable._metrics import scores
from hpsearch.trainable._model import build_mlp, count_parameters
from hpsearch.trainable._packed import PackedMLP, PackedOptimizer
from hpsearch.trainable._packed_objective import packed_augmentation, packed_loss
from hpsearch.trainable._settings import TrainSettings

# Validation rows per batched forward pass: K members' activations at once.
_EVAL_ROWS = 4096
#: How a member stands in a pack checkpoint's pack.json.
STATES = ("running", "completed", "diverged", "stopped")


@dataclass
class Member:
    """One trial of a pack: its hyperparameters, progress, best epoch, and how it ended."""

    number: int
    hp: HParams
    epoch: int = 0
    resumed_from: int = 0
    best_value: float | None = None
    best_epoch: int = 0
    best_model: dict[str, torch.Tensor] | None = None
    #: ``running`` while in the batch, then ``completed``, ``diverged`` or ``stopped``.
    state: str = "running"
    #: Its checkpoint slice, frozen when it left the batch (written into every later checkpoint).
    final: dict[str, Any] | None = None


class PackRun:
    """K members on one device, trained an epoch per :meth:`step`.

    ``states`` continues members from their checkpoint slices (a restarted pack, or an
    earlier run's unfinished trials): number -> (state, how it stood: ``running`` or how
    it ended). The others start fresh, from exactly the weights their unpacked trial
    would start from.
    """

    def __init__(
        self,
        configs: Sequence[Mapping[str, Any]],
        data: TabularData,
        settings: TrainSettings,
        device: torch.device | None = None,
        states: Mapping[int, tuple[dict[str, Any], str]] | None = None,
    ) -> None:
        states = states or {}
        members = [Member(int(c["trial_number"]), HParams.from_config(c)) for c in configs]
        if len({m.hp.structure() for m in members}) != 1:
            raise ValueError("the members of a pack must share their structure (PACK_SHARED)")
        self.settings, self.task = settings, data.task
        self.device = device or pick_device(settings)
        self.x_train, self.y_train, self.x_val, self.y_val, self.target_scale = device_splits(
            data, self.device
        )
        self.num_inputs, self.num_outputs = data.num_features, data.num_outputs
        self.embedded, self.input_shape = data.num_numeric, data.input_shape
        self.ended: list[Member] = []
        # Measured once in this process, after the first epoch, for every member.
        self.latency: dict[str, float] | None = None
        models, optimizer_states, running = [], [], []
        for member in members:
            state, how = states.get(member.number, (None, "running"))
            if state is not None and how != "running":
                member.state, member.final = how, state
                member.epoch = int(state["epoch"])
                self.ended.append(member)
                continue
            torch.manual_seed(member.hp.seed)  # the unpacked trial's initial weights
            model = build_mlp(self.num_inputs, self.num_outputs, member.hp, self.embedded)
            if state is not None:
                _continue(member, model, state)
            models.append(model.to(self.device))
            optimizer_states.append(None if state is None else state["optimizer"])
            running.append((member, state))
        self.active = [member for member, _ in running]
        self._seed_generator([state for _, state in running], members)
        self.num_params = count_parameters(models[0]) if models else 0
        if models:  # else every member had ended: nothing left to train
            hps = [m.hp for m in self.active]
            self.model = PackedMLP(models, hps, self.embedded)
            self.optimizer = PackedOptimizer(self.model, hps, optimizer_states)
            self._objectives()

    def _seed_generator(
        self, states: Sequence[dict[str, Any] | None], members: Sequence[Member]
    ) -> None:
        """Shuffles, dropout and augmentation draw from torch's generator: a restarted
        pack continues the saved one, a fresh pack seeds it from its first member."""
        saved = next((s["rng"] for s in states if s is not None), None)
        if saved is not None:
            torch.set_rng_state(saved["torch"])
            if "cuda" in saved and self.device.type == "cuda":
                torch.cuda.set_rng_state(saved["cuda"], self.device)
        elif members:
            torch.manual_seed(members[0].hp.seed)

    def _objectives(self) -> None:
        hps = [m.hp for m in self.active]
        if hps:
            self.loss_fn = packed_loss(hps, self.task)
            self.augment = packed_augmentation(hps, self.input_shape)

    @property
    def shared(self) -> HParams:
        """A member's hyperparameters, for what every member shares."""
        return (self.active or self.ended)[0].hp

    def train_epoch(self) -> list[float]:
        """One pass over the training split, each member its own shuffle; every running
        member's mean batch loss."""
        self.model.train()
        k, n, batch = len(self.active), len(self.x_train), self.shared.batch_size
        order = torch.argsort(torch.rand(k, n, device=self.device), dim=1)
        factors = self._lr_factors(-(-n // batch))
        mixup = self.shared.augmentation == "mixup"
        total = torch.zeros(k, device=self.device)
        batches = 0
        for step, start in enumerate(range(0, n, batch)):
            idx = order[:, start : start + batch]
            if idx.shape[1] < 2 and self.shared.batch_norm:
                continue  # batch norm cannot train on a single row
            x, y_a, y_b, lam = self.augment(self.x_train[idx], self.y_train[idx])
            out = self.model(x)
            loss = self.loss_fn(out, y_a)
            if mixup:
                loss = lam * loss + (1.0 - lam) * self.loss_fn(out, y_b)
            self.optimizer.zero_grad()
            # Members' graphs are disjoint: the sum's gradient is each member's own.
            loss.sum().backward()
            self.optimizer.step(factors[:, step])
            total += loss.detach()
            batches += 1
        return (total / max(batches, 1)).tolist()

    def _lr_factors(self, per_epoch: int) -> torch.Tensor:
        """(members, steps of this epoch): each member's schedule, from its own epoch."""
        if all(m.hp.lr_schedule == "constant" for m in self.active):
            return torch.ones(len(self.active), per_epoch, dtype=torch.float64, device=self.device)
        steps = per_epoch * self.settings.max_epochs
        rows = [
            [
                schedule_factor(m.hp.lr_schedule, m.epoch * per_epoch + i, steps)
                for i in range(per_epoch)
            ]
            for m in self.active
        ]
        # float64: a member's learning rate exactly as its unpacked trial computes it.
        return torch.tensor(rows, dtype=torch.float64, device=self.device)

    @torch.inference_mode()
    def _val_outputs(self) -> torch.Tensor:
        """(members, validation rows, outputs), in eval mode."""
        self.model.eval()
        rows = range(0, len(self.x_val), _EVAL_ROWS)
        outs = torch.cat([self.model(self.x_val[i : i + _EVAL_ROWS]) for i in rows], dim=1)
        self.model.train()
        return outs

    def step(self) -> dict[int, dict[str, Any]]:
        """Train every running member one epoch; the metrics each reports for it, by
        trial number. A member whose training loss is not finite reports
        ``diverged=True``; ``left`` says which members leave the pack after this epoch
        (``completed`` or ``diverged``), which :meth:`retire` then carries out."""
        start = time.perf_counter()
        losses = self.train_epoch()
        outs = self._val_outputs()
        epoch_time_s = time.perf_counter() - start
        results = {}
        for k, member in enumerate(self.active):
            member.epoch += 1
            results[member.number] = self._member_metrics(k, member, losses[k], outs[k])
            results[member.number]["epoch_time_s"] = epoch_time_s
        return results

    def _member_metrics(
        self, k: int, member: Member, loss: float, outs: torch.Tensor
    ) -> dict[str, Any]:
        metrics: dict[str, Any] = {"epoch": member.epoch, "train_loss": loss}
        diverged = not math.isfinite(loss)
        if diverged:
            val = [m for m in TASK_METRICS[self.task] if m.startswith("val_")]
            metrics.update(dict.fromkeys(val, float("nan")))
        else:
            metrics.update(scores(outs, self.y_val, self.task, "val", self.target_scale))
            value = metrics[self.settings.metric]
            if is_better(value, member.best_value, self.settings.mode):
                member.best_value, member.best_epoch = value, member.epoch
                member.best_model = self.model.member_state_dict(k, member.hp)
        metrics["diverged"] = diverged
        metrics["num_params"] = self.num_params
        if self.settings.measure_latency:
            # One architecture, so one measurement serves every member (in eval mode
            # dropout, the only difference, is off).
            if self.latency is None:
                self.latency = measure_latency(self._member_model(k, member), self.x_train)
            metrics.update(self.latency)
        metrics["resumed_from_epoch"] = member.resumed_from
        left = "diverged" if diverged else None
        if not diverged and member.epoch >= self.settings.max_epochs:
            left = "completed"
        metrics["left"] = left
        return metrics

    def _member_model(self, k: int, member: Member) -> nn.Module:
        model = build_mlp(self.num_inputs, self.num_outputs, member.hp, self.embedded)
        model.load_state_dict(self.model.member_state_dict(k, member.hp))
        return model.to(self.device)

    def checkpoint_due(self, results: Mapping[int, Mapping[str, Any]]) -> bool:
        """Whether this epoch is checkpointed: a running member's checkpoint epoch (every
        N, the scheduler's rungs, the last), or a member leaving (its last state)."""
        return any(
            self.settings.checkpoints_at(int(m["epoch"])) or m.get("left") for m in results.values()
        )

    def member_state(self, k: int) -> dict[str, Any]:
        """Running member ``k``'s checkpoint slice: exactly a single trial's state, so a
        member continues, exports and predicts like any trial."""
        member = self.active[k]
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "epoch": member.epoch,
            "model": self.model.member_state_dict(k, member.hp),
            "optimizer": self.optimizer.member_state_dict(k, member.hp),
            "rng": rng,
            "best": {
                "value": member.best_value,
                "epoch": member.best_epoch,
                "model": member.best_model,
            },
            "target_scale": self.target_scale,
            "embedded": self.embedded,
            "hparams": dataclasses.asdict(member.hp),
        }

    def save(self, directory: str | Path) -> None:
        """Every member's slice (``member_<number>/state.pt``: the running ones now, the
        ended ones as they left) and how each stands (``pack.json``)."""
        slices = {m.number: self.member_state(k) for k, m in enumerate(self.active)}
        slices.update({m.number: m.final for m in self.ended if m.final is not None})
        for number, state in slices.items():
            folder = Path(directory) / f"{MEMBER_PREFIX}{number}"
            folder.mkdir()
            save_state(state, folder)
        standing = {
            str(m.number): {"state": m.state, "epoch": m.epoch} for m in [*self.active, *self.ended]
        }
        (Path(directory) / PACK_FILE).write_text(json.dumps({"members": standing}))

    def retire(self, results: Mapping[int, Mapping[str, Any]]) -> None:
        """Members whose epoch says they leave (``left``) leave the batch."""
        self._leave({n: str(m["left"]) for n, m in results.items() if m.get("left")})

    def stop(self, numbers: Iterable[int]) -> None:
        """Members the scheduler stopped leave the batch."""
        self._leave(dict.fromkeys(numbers, "stopped"))

    def _leave(self, how: Mapping[int, str]) -> None:
        """Freeze each leaving member's slice and drop its weights and optimizer state
        from the batch."""
        leaving = [k for k, m in enumerate(self.active) if m.number in how]
        if not leaving:
            return
        for k in leaving:
            member = self.active[k]
            # Kept for later checkpoints on the CPU: the device holds only running members.
            member.final, member.state = _on_cpu(self.member_state(k)), how[member.number]
            self.ended.append(member)
        keep = [k for k in range(len(self.active)) if k not in leaving]
        self.active = [self.active[k] for k in keep]
        if keep:
            self.model.keep(keep)
            self.optimizer.keep(keep)
            self._objectives()


def _continue(member: Member, model: nn.Module, state: Mapping[str, Any]) -> None:
    """A member continues from its slice (or an unpacked trial's checkpoint)."""
    model.load_state_dict(state["model"])
    member.epoch = member.resumed_from = int(state["epoch"])
    best = state["best"]
    member.best_value, member.best_epoch, member.best_model = (
        best["value"],
        best["epoch"],
        best["model"],
    )


def read_pack(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> dict[int, tuple[dict[str, Any], str]]:
    """A pack checkpoint's members: number -> (slice, how it stood). A pack.json that is
    not as a pack writes it (data from storage) raises ``ValueError``."""
    written = json.loads((Path(directory) / PACK_FILE).read_text())
    standing = written.get("members") if isinstance(written, dict) else None
    if not isinstance(standing, dict):
        raise ValueError(f"{PACK_FILE} lists no members")
    members = {}
    for key, entry in standing.items():
        state = entry.get("state") if isinstance(entry, dict) else None
        if not (key.isascii() and key.isdigit() and state in STATES):
            raise ValueError(f"{PACK_FILE}: member {key!r} is not as a pack writes it")
        number = int(key)
        folder = Path(directory) / f"{MEMBER_PREFIX}{number}"
        members[number] = (load_state(folder, map_location), str(state))
    return members


def _on_cpu(value: Any) -> Any:
    """``value`` (a checkpoint slice) with every tensor in it on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    return value
