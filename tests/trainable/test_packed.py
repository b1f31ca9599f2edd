"""Packs: K members trained as one batched model equal K trials trained one by one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch import nn

from hpsearch.trainable import HParams, build_augmentation, build_loss, build_mlp, build_optimizer
from hpsearch.trainable._packed import PackedMLP, PackedOptimizer
from hpsearch.trainable._packed_objective import packed_augmentation, packed_loss

INPUTS, OUTPUTS, EMBEDDED, ROWS, STEPS = 5, 3, 3, 16, 4
# float64 makes the comparison tight: in float32, a bias before batch norm has a
# gradient of pure rounding noise, which Adam scales up to whole steps.
DTYPE = torch.float64
BASE = HParams(hidden_sizes=(8, 6), batch_norm=True, embedding="periodic", embedding_scale=0.3)
_DATA = torch.Generator().manual_seed(0)
X = torch.randn(3, STEPS + 1, ROWS, INPUTS, generator=_DATA, dtype=DTYPE)
Y = torch.randint(0, OUTPUTS, (3, STEPS + 1, ROWS), generator=_DATA)
X_VAL = torch.randn(20, INPUTS, generator=_DATA, dtype=DTYPE)
# Each member its own learning-rate schedule (the last column: the extra step).
FACTORS = torch.tensor(
    [[1.0, 0.5, 0.25, 1.0, 0.7], [0.8, 1.0, 0.3, 0.6, 1.0], [1.0, 1.0, 1.0, 0.1, 0.4]]
)


def members(optimizer: str, nesterov: bool = False, **shared: Any) -> list[HParams]:
    """Three members that differ in lr, weight decay, momentum, loss and seed."""
    lr_scale = 20.0 if optimizer == "sgd" else 1.0
    rows = [
        (1e-3, 0.0, 0.0, None, 0.0),
        (3e-3, 1e-2, 0.9, "label_smoothing", 0.1),
        (1e-2, 1e-3, 0.5, "cross_entropy", 0.0),
    ]
    base = dataclasses.replace(BASE, **shared)
    return [
        dataclasses.replace(
            base,
            optimizer=optimizer,
            lr=lr * lr_scale,
            weight_decay=wd,
            momentum=momentum,
            nesterov=nesterov,
            loss=loss,
            loss_param=param,
            seed=10 + k,
        )
        for k, (lr, wd, momentum, loss, param) in enumerate(rows)
    ]


CASES = {
    "adam": members("adam"),
    "adamw": members("adamw"),
    "sgd-nesterov": members("sgd", nesterov=True),
    "sgd": members("sgd"),
    "rmsprop": members("rmsprop"),
}


def fresh(hp: HParams) -> nn.Sequential:
    """The member's unpacked trial's initial model."""
    torch.manual_seed(hp.seed)
    return build_mlp(INPUTS, OUTPUTS, hp, EMBEDDED).to(DTYPE)


def train_single(
    model: nn.Module, opt: torch.optim.Optimizer, hp: HParams, k: int, steps: range
) -> None:
    """Member ``k``'s trial as the unpacked loop trains it, on its own batches."""
    loss_fn = build_loss(hp, "classification")
    model.train()
    for t in steps:
        for group in opt.param_groups:
            group["lr"] = hp.lr * float(FACTORS[k, t])
        loss = loss_fn(model(X[k, t]), Y[k, t])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def singles(hps: list[HParams], steps: int) -> list[tuple[nn.Module, torch.optim.Optimizer]]:
    out = []
    for k, hp in enumerate(hps):
        model = fresh(hp)
        opt = build_optimizer(model, hp)
        train_single(model, opt, hp, k, range(steps))
        out.append((model, opt))
    return out


def new_pack(hps: list[HParams]) -> tuple[PackedMLP, PackedOptimizer]:
    pack = PackedMLP([fresh(hp) for hp in hps], hps, EMBEDDED)
    return pack, PackedOptimizer(pack, hps)


def train_pack(
    pack: PackedMLP, opt: PackedOptimizer, hps: list[HParams], data: list[int], steps: range
) -> None:
    """The pack, member ``i`` on the batches of trial ``data[i]``."""
    loss_fn = packed_loss(hps, "classification")
    pack.train()
    for t in steps:
        loss = loss_fn(pack(X[data, t]), Y[data, t])
        opt.zero_grad()
        loss.sum().backward()
        opt.step(FACTORS[data, t])


def assert_same_weights(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        torch.testing.assert_close(got[key], value, rtol=1e-7, atol=1e-9, msg=key)


def assert_same_optimizer(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["param_groups"] == want["param_groups"]
    assert list(got["state"]) == list(want["state"])
    for index, state in want["state"].items():
        assert list(got["state"][index]) == list(state), index
        for key, value in state.items():
            assert got["state"][index][key].dtype == value.dtype, key
            assert got["state"][index][key].device == value.device, key
            torch.testing.assert_close(got["state"][index][key], value, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_each_member_trains_exactly_like_its_own_trial(case: str) -> None:
    hps = CASES[case]
    pack, opt = new_pack(hps)
    train_pack(pack, opt, hps, [0, 1, 2], range(STEPS))
    pack.eval()
    outputs = pack(X_VAL)  # (rows, features): the same rows for every member
    for k, (model, torch_opt) in enumerate(singles(hps, STEPS)):
        assert_same_weights(pack.member_state_dict(k, hps[k]), model.state_dict())
        assert_same_optimizer(opt.member_state_dict(k, hps[k]), torch_opt.state_dict())
        restored = build_mlp(INPUTS, OUTPUTS, hps[k], EMBEDDED).to(DTYPE)
        restored.load_state_dict(pack.member_state_dict(k, hps[k]), strict=True)
        restored.eval()
        model.eval()
        torch.testing.assert_close(restored(X_VAL), outputs[k], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(model(X_VAL), outputs[k], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_member_optimizer_state_continues_in_torch(case: str) -> None:
    hps = CASES[case]
    pack, opt = new_pack(hps)
    for k, hp in enumerate(hps):  # before any step, torch has no state either
        assert_same_optimizer(
            opt.member_state_dict(k, hp), build_optimizer(fresh(hp), hp).state_dict()
        )
    train_pack(pack, opt, hps, [0, 1, 2], range(STEPS))
    continued = []
    for k, hp in enumerate(hps):
        model = build_mlp(INPUTS, OUTPUTS, hp, EMBEDDED).to(DTYPE)
        model.load_state_dict(pack.member_state_dict(k, hp), strict=True)
        torch_opt = build_optimizer(model, hp)
        torch_opt.load_state_dict(opt.member_state_dict(k, hp))
        train_single(model, torch_opt, hp, k, range(STEPS, STEPS + 1))
        continued.append((model, torch_opt))
    train_pack(pack, opt, hps, [0, 1, 2], range(STEPS, STEPS + 1))
    for k, (model, torch_opt) in enumerate(continued):
        assert_same_weights(pack.member_state_dict(k, hps[k]), model.state_dict())
        assert_same_optimizer(opt.member_state_dict(k, hps[k]), torch_opt.state_dict())


@pytest.mark.parametrize("case", list(CASES))
def test_pack_rebuilt_from_slices_continues_identically(case: str) -> None:
    hps = CASES[case]
    pack, opt = new_pack(hps)
    train_pack(pack, opt, hps, [0, 1, 2], range(2))
    models = []
    for k, hp in enumerate(hps):
        model = build_mlp(INPUTS, OUTPUTS, hp, EMBEDDED).to(DTYPE)
        model.load_state_dict(pack.member_state_dict(k, hp), strict=True)
        models.append(model)
    states = [opt.member_state_dict(k, hp) for k, hp in enumerate(hps)]
    rebuilt = PackedMLP(models, hps, EMBEDDED)
    rebuilt_opt = PackedOptimizer(rebuilt, hps, states)
    train_pack(pack, opt, hps, [0, 1, 2], range(2, STEPS))
    train_pack(rebuilt, rebuilt_opt, hps, [0, 1, 2], range(2, STEPS))
    for k, hp in enumerate(hps):
        assert_same_weights(rebuilt.member_state_dict(k, hp), pack.member_state_dict(k, hp))


@pytest.mark.parametrize("case", list(CASES))
def test_pack_continues_unpacked_trials_checkpoints(case: str) -> None:
    """A member resumed from a single trial's checkpoint (or fresh: None) goes on as the trial."""
    hps = CASES[case]
    half = singles(hps, 2)
    models = [model for model, _ in half[:2]] + [fresh(hps[2])]
    states = [half[0][1].state_dict(), half[1][1].state_dict(), None]
    pack = PackedMLP(models, hps, EMBEDDED)
    opt = PackedOptimizer(pack, hps, states)
    # What a member loads is what it saves (a fresh one: a fresh torch optimizer's state).
    saved = [*states[:2], build_optimizer(fresh(hps[2]), hps[2]).state_dict()]
    for k, state in enumerate(saved):
        assert_same_optimizer(opt.member_state_dict(k, hps[k]), state)
    train_pack(pack, opt, hps, [0, 1, 2], range(2, STEPS))
    for k, (model, torch_opt) in enumerate(half[:2]):
        train_single(model, torch_opt, hps[k], k, range(2, STEPS))
        assert_same_weights(pack.member_state_dict(k, hps[k]), model.state_dict())
        assert_same_optimizer(opt.member_state_dict(k, hps[k]), torch_opt.state_dict())
    model = fresh(hps[2])
    torch_opt = build_optimizer(model, hps[2])
    train_single(model, torch_opt, hps[2], 2, range(2, STEPS))
    assert_same_weights(pack.member_state_dict(2, hps[2]), model.state_dict())


def test_float32_pack_matches_within_float32_tolerance() -> None:
    hps = [dataclasses.replace(hp, batch_norm=False) for hp in CASES["adam"]]
    pack = PackedMLP([fresh(hp).float() for hp in hps], hps, EMBEDDED)
    opt = PackedOptimizer(pack, hps)
    loss_fn = packed_loss(hps, "classification")
    for t in range(STEPS):
        loss = loss_fn(pack(X[:, t].float()), Y[:, t])
        opt.zero_grad()
        loss.sum().backward()
        opt.step(FACTORS[:, t])
    for k, hp in enumerate(hps):
        model = fresh(hp).float()
        torch_opt = build_optimizer(model, hp)
        for t in range(STEPS):
            for group in torch_opt.param_groups:
                group["lr"] = hp.lr * float(FACTORS[k, t])
            loss = build_loss(hp, "classification")(model(X[k, t].float()), Y[k, t])
            torch_opt.zero_grad()
            loss.backward()
            torch_opt.step()
        for key, value in model.state_dict().items():
            torch.testing.assert_close(pack.member_state_dict(k, hp)[key], value, msg=key)


@pytest.mark.parametrize("case", ["adam", "sgd-nesterov"])
def test_kept_members_continue_identically(case: str) -> None:
    hps = CASES[case]
    pack, opt = new_pack(hps)
    train_pack(pack, opt, hps, [0, 1, 2], range(2))
    pack.keep([2, 0])
    opt.keep([2, 0])
    kept = [hps[2], hps[0]]
    assert pack.size == 2
    train_pack(pack, opt, kept, [2, 0], range(2, STEPS))
    trained = singles(hps, STEPS)
    for i, k in enumerate([2, 0]):
        model, torch_opt = trained[k]
        assert_same_weights(pack.member_state_dict(i, hps[k]), model.state_dict())
        assert_same_optimizer(opt.member_state_dict(i, hps[k]), torch_opt.state_dict())


@pytest.mark.parametrize("case", ["adam", "sgd-nesterov", "rmsprop"])
def test_a_diverged_member_leaves_the_others_untouched(case: str) -> None:
    hps = CASES[case]
    pack, opt = new_pack(hps)
    with torch.no_grad():
        pack.tensor("linear0_weight")[1, 0, 0] = float("nan")
    train_pack(pack, opt, hps, [0, 1, 2], range(STEPS))
    assert torch.isnan(pack.tensor("linear1_weight")[1]).all()
    trained = singles(hps, STEPS)
    for k in (0, 2):
        assert_same_weights(pack.member_state_dict(k, hps[k]), trained[k][0].state_dict())


def test_dropout_is_per_member() -> None:
    hps = [
        dataclasses.replace(hp, dropout=rate)
        for hp, rate in zip(CASES["adam"], [0.0, 0.5, 0.0], strict=True)
    ]
    pack, _ = new_pack(hps)
    torch.manual_seed(0)
    h = pack._dropout(torch.ones(3, 200, 50, dtype=DTYPE))
    assert torch.equal(h[0], torch.ones(200, 50, dtype=DTYPE))
    dropped = (h[1] == 0).double().mean()
    assert 0.45 < dropped < 0.55
    assert torch.equal(h[1][h[1] != 0].unique(), torch.tensor([2.0], dtype=DTYPE))

    # In train mode the rate-0 members are deterministic, the other is not.
    pack.train()
    first, second = pack(X_VAL), pack(X_VAL)
    assert torch.equal(first[0], second[0]) and torch.equal(first[2], second[2])
    assert not torch.equal(first[1], second[1])

    # A dropout member's slice has build_mlp's keys (a Dropout layer shifts the indices).
    pack.eval()
    restored = build_mlp(INPUTS, OUTPUTS, hps[1], EMBEDDED).to(DTYPE)
    assert list(pack.member_state_dict(1, hps[1])) == list(restored.state_dict())
    restored.load_state_dict(pack.member_state_dict(1, hps[1]), strict=True)
    restored.eval()
    torch.testing.assert_close(restored(X_VAL), pack(X_VAL)[1])


def _loss_inputs(task: str, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    if task == "classification":
        return torch.randn(k, 30, 4) * 3, torch.randint(0, 4, (k, 30))
    return torch.randn(k, 30, 1) * 3, torch.randn(k, 30) * 3  # errors both sides of delta


@pytest.mark.parametrize(
    ("task", "losses"),
    [
        (
            "classification",
            [(None, 0.0), ("label_smoothing", 0.1), ("label_smoothing", 0.3), ("cross_entropy", 0)],
        ),
        ("classification", [("cross_entropy", 0.0), (None, 0.0)]),
        ("classification", [("label_smoothing", 0.2), ("label_smoothing", 0.05)]),
        ("regression", [(None, 0.0), ("huber", 0.5), ("huber", 2.0), ("mse", 0.0)]),
        ("regression", [("mse", 0.0), (None, 0.0)]),
        ("regression", [("huber", 1.0), ("huber", 0.3)]),
    ],
)
def test_packed_loss_is_each_members_own_loss(
    task: str, losses: list[tuple[str | None, float]]
) -> None:
    hps = [HParams(loss=loss, loss_param=param) for loss, param in losses]
    out, y = _loss_inputs(task, len(hps))
    got = packed_loss(hps, task)(out, y)
    assert got.shape == (len(hps),)
    for k, hp in enumerate(hps):
        torch.testing.assert_close(got[k], build_loss(hp, task)(out[k], y[k]))


def test_packed_loss_refuses_unknown_losses() -> None:
    with pytest.raises(ValueError, match="unknown loss 'huber' for classification"):
        packed_loss([HParams(), HParams(loss="huber")], "classification")


SHAPE = (1, 6, 6)


def _augment(
    name: str, strengths: list[float], x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    hps = [HParams(augmentation=name, augmentation_strength=s) for s in strengths]
    torch.manual_seed(3)
    return packed_augmentation(hps, SHAPE)(x, y)


def _images(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(2)
    return torch.rand(k, 8, 36) + 0.1, torch.arange(8).repeat(k, 1)  # no zeros: holes show


@pytest.mark.parametrize("name", ["noise", "feature_dropout", "shift", "rotate", "flip", "cutout"])
def test_strength_zero_members_are_unchanged(name: str) -> None:
    x, y = _images(3)
    strength = {"rotate": 20.0, "flip": 1.0}.get(name, 0.3)
    out, y_a, y_b, lam = _augment(name, [0.0, strength, 0.0], x, y)
    assert out.shape == x.shape
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
    assert not torch.allclose(out[1], x[1])
    assert torch.equal(y_a, y) and torch.equal(y_b, y) and torch.equal(lam, torch.ones(3))


def test_image_augmentations_act_per_member_as_build_augmentation_does() -> None:
    x, y = _images(2)
    out = _augment("flip", [1.0, 1.0], x, y)[0]
    assert torch.equal(out.view(2, 8, *SHAPE), x.view(2, 8, *SHAPE).flip(-1))
    out = _augment("cutout", [0.5, 0.25], x, y)[0]
    zeros = (out == 0).sum(-1)
    single = build_augmentation(HParams(augmentation="cutout", augmentation_strength=0.25), SHAPE)
    assert torch.all(zeros[0] == 9)  # 3x3 squares
    assert torch.all(zeros[1] == (single(x[1], y[1])[0] == 0).sum(-1))  # round(1.5) = 2
    dropped = _augment("feature_dropout", [0.5, 0.0], x, y)[0][0]
    assert torch.all((dropped == 0) | torch.isclose(dropped, 2 * x[0]))


def test_mixup_draws_lam_and_partners_per_member() -> None:
    torch.manual_seed(4)
    x, y = torch.randn(3, 50, 5), torch.arange(50).repeat(3, 1)
    out, y_a, y_b, lam = _augment("mixup", [0.0, 0.4, 1.0], x, y)
    assert torch.equal(y_a, y)
    assert lam[0] == 1.0 and torch.equal(out[0], x[0]) and torch.equal(y_b[0], y[0])
    assert torch.all((lam >= 0) & (lam <= 1))
    for k in (1, 2):
        # y is the row number: y_b names each row's partner.
        torch.testing.assert_close(out[k], lam[k] * x[k] + (1 - lam[k]) * x[k][y_b[k]])
        assert sorted(y_b[k].tolist()) == list(range(50))
    assert not torch.equal(y_b[1], y_b[2])  # each member its own permutation


def test_no_augmentation_is_the_identity() -> None:
    x, y = _images(2)
    for name, strengths in [("none", [0.5, 0.5]), ("mixup", [0.0, 0.0])]:
        out, y_a, y_b, lam = _augment(name, strengths, x, y)
        assert out is x and y_a is y and y_b is y and torch.equal(lam, torch.ones(2))
    with pytest.raises(ValueError, match="needs image-shaped data"):
        packed_augmentation([HParams(augmentation="flip", augmentation_strength=0.5)], None)
